"""The on-disk formats that loaders read and generators write: folder and file names, and OpenPose JSON.

Not a plugin (it registers nothing): one place for what a loader plugin and the generator writing its layout must
agree on, so that neither imports the other's internals.
"""
