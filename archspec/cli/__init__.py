"""The ``archspec`` command line: one module per command group, each command a few lines over the library.

Exit codes: 0 ok, 1 a spec or input problem (one clear paragraph on stderr),
2 a usage error (click's), 130 interrupted (Ctrl-C, the shell's code for it).
``--debug``, anywhere on the line, or ARCHSPEC_DEBUG=1 shows the traceback behind a failure and the raw
logs of TensorFlow, Keras and JAX (and of the processes archspec starts), which are otherwise kept quiet.
``validate``, ``zoo list``, ``schema`` and ``sample`` never import TensorFlow.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..keras.quiet import DEBUG, quiet_imports
from . import data, design, experiments, inference, model, training, zoo
from .common import EPILOG

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a program stopped by Ctrl-C


class ArchspecGroup(click.Group):
    """click's group, with ``--debug`` taken anywhere before ``--`` (``archspec build X --debug``
    as well as ``archspec --debug build X``) and Ctrl-C exiting 130 without click's "Aborted!"
    (a command that has something to say on an interrupt, as ``train`` does, says it first)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = args[:args.index("--")] if "--" in args else args
        if "--debug" in options:
            args = ["--debug", *[a for a in options if a != "--debug"], *args[len(options):]]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise click.exceptions.Exit(INTERRUPTED) from None


@click.group(cls=ArchspecGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True,
              help=f"Show the Python traceback behind a failure and TensorFlow's raw logs, for a bug report "
                   f"(anywhere on the line; {DEBUG}=1 does the same).")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Write residual-family networks as short YAML specs, check them, build them as Keras models.

    \b
    Examples:
      archspec build specs/resnext50.yaml --summary
      archspec build resnet50 --json
      archspec validate my_net.yaml
      archspec zoo list
    """
    if debug and DEBUG not in os.environ:
        os.environ[DEBUG] = "1"  # for this command, and inherited by the processes it starts
        ctx.call_on_close(lambda: os.environ.pop(DEBUG, None))
    quiet_imports()


for command in (model.build, model.validate, model.schema, model.plot, model.diff, model.export, zoo.zoo, zoo.identify,
                training.train, training.bench_command, data.data, experiments.reproduce, experiments.gradients,
                experiments.paths, inference.predict, inference.evaluate, design.sample):
    main.add_command(command)
