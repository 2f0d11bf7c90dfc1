"""Built-in plugin: STGAN, the detector of the STGAN paper, and the ``anobench stgan ablation`` command."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from bench_core import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "stgan",
        "anobench_stgan.detector:STGAN",
        summary="Spatio-temporal GAN: 3D-conv encoder/decoder/discriminator with SAGAN stabilisers, scored by "
                "the L1 error of the last frame (the STGAN paper)",
        published={
            "avenue": {"frame_auroc": 0.829, "source": "STGAN paper, Table 1 (Avenue)"},
            "industrial": {"frame_auroc": 0.728, "source": "STGAN paper, Table 2 (industrial set)"},
        },
    )


@hookimpl
def register_commands(app):
    stgan = typer.Typer(no_args_is_help=True, help="Tools for STGAN, the detector of the STGAN paper.")

    @stgan.command("ablation")
    def ablation(
        datasets: str = typer.Option("synthetic-avenue,synthetic-industrial", "--datasets",
                                     help="Comma-separated datasets; synthetic-industrial is run on its frames view."),
        seeds: str = typer.Option("0,1,2", "--seeds", help="Comma-separated seeds."),
        preset: str = typer.Option("cpu", "--preset", help="STGAN preset every variant starts from."),
        variants: str = typer.Option("all", "--variants",
                                     help="Comma-separated variants, or 'all': full, no-consist, no-feat, "
                                          "no-spectral-norm, no-self-attention, no-ttur."),
        settings: List[str] = typer.Option([], "--set", help="Extra detector setting key=value for every variant "
                                                             "(repeatable)."),
        data_options: List[str] = typer.Option([], "--data-option",
                                               help="Dataset option key=value for every dataset (repeatable)."),
        out: Path = typer.Option(Path("results/stgan-ablation"), "--out", help="Results folder of the runs."),
        doc: Optional[Path] = typer.Option(None, "--doc", help="Markdown file whose ablation markers receive the "
                                                              "table (e.g. docs/stgan.md)."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        as_json: bool = typer.Option(False, "--json", help="Print the table rows as JSON."),
    ):
        """Train STGAN with each stabiliser or loss term switched off in turn; table mean ± std over seeds.

        Complete runs under OUT are reused, so running the same command again continues where it stopped.
        """
        from anobench_stgan.ablation import run_ablation

        run_ablation(datasets=datasets, seeds=seeds, preset=preset, variants=variants, settings=list(settings),
                     data_options=list(data_options), out=out, doc=doc, device=device, as_json=as_json)

    app.add_typer(stgan, name="stgan")
