"""The ``archspec`` command line: one module per command group, each command a few lines over the library.

Exit codes: 0 ok, 1 a spec or input problem (one clear paragraph on stderr),
2 a usage error (click's). ``--debug`` shows the traceback behind a failure.
``validate``, ``zoo list`` and ``schema`` never import TensorFlow.
"""

from __future__ import annotations

import click

from . import data, experiments, model, training, zoo
from .common import EPILOG


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the Python traceback behind a failure.")
def main(debug: bool) -> None:
    """Write residual-family networks as short YAML specs, check them, build them as Keras models.

    \b
    Examples:
      archspec build specs/resnext50.yaml --summary
      archspec build resnet50 --json
      archspec validate my_net.yaml
      archspec zoo list
    """


for command in (model.build, model.validate, model.schema, model.plot, model.diff, model.export, zoo.zoo,
                training.train, training.bench_command, data.data, experiments.reproduce, experiments.gradients, experiments.paths):
    main.add_command(command)
