"""Built-in plugin: the runners that execute ``anobench sweep`` jobs. Dask is imported only when chosen."""

from bench_core import hookimpl


@hookimpl
def register_runners(register):
    register("serial", "anobench_runners.local:SerialRunner",
             summary="One job after another in this process, with each job's progress shown (default)")
    register("process", "anobench_runners.local:ProcessRunner",
             summary="A local process pool; with GPUs, one worker per GPU, each given its device")
    register("dask", "anobench_runners.dask_runner:DaskRunner",
             summary="Dask distributed: --scheduler tcp://HOST:8786, or a LocalCluster on 127.0.0.1 with TLS "
                     "(needs the dask extra)")
