"""Command line: ``python -m skgru demo [options]``."""

import argparse
import sys

__all__ = ["main"]

_DATASET_CHOICES = ("gunpoint", "italy_power_demand", "basic_motions", "osuleaf")


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m skgru",
        description=(
            "skgru: a scikit-learn compatible constrained GRU classifier with Numba kernels."
        ),
        epilog="Run `python -m skgru demo --help` for the demo's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="tune a GRU by grid search on a bundled dataset and report its test accuracy",
        description=(
            "Tune the recommended pipeline (skgru.make_sequence_classifier: per-series "
            "scaling, a fixed dilated-convolution front-end, a GRU) with GridSearchCV over "
            "skgru.sequence_param_grid() (3-fold cross-validation) on the "
            "training split of a bundled UCR/UEA dataset, refit the best candidate on the "
            "whole training split, and report its test accuracy next to published "
            "baselines, the best parameters and the training time. When matplotlib is "
            "installed, the best model's loss curve is saved as a PNG."
        ),
    )
    demo.add_argument(
        "--dataset",
        choices=_DATASET_CHOICES,
        default="gunpoint",
        help="bundled dataset, standard train/test split (default: %(default)s)",
    )
    demo.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help=(
            "where to train: 'auto' uses a CUDA GPU when numba sees one, else the CPU; "
            "'cuda' fails without one (default: %(default)s)"
        ),
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help=(
            "a much smaller search (one unit count, 2 folds, 20 epochs) that finishes in "
            "seconds; a smoke test, its accuracy is not representative"
        ),
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        default=".",
        help="folder for the loss-curve PNG, created if missing (default: current folder)",
    )
    demo.add_argument(
        "--no-plot",
        dest="plot",
        action="store_false",
        help="do not save the loss-curve PNG even when matplotlib is installed",
    )
    demo.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="seed for the weights and the folds (default: %(default)s)",
    )
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        from ._demo import resolve_device, run_demo

        try:
            resolve_device(args.device)
        except ValueError as exc:
            parser.exit(1, f"python -m skgru demo: error: {exc}\n")
        run_demo(
            args.dataset,
            device=args.device,
            quick=args.quick,
            out=args.out,
            random_state=args.random_state,
            plot=args.plot,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
