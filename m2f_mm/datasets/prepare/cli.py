"""The command line shared by ``tools/dataset_converters/*.py``."""
import argparse
from typing import Callable, Optional, Sequence

from m2f_mm.utils.launch import exit_on_user_error

__all__ = ['main']


def main(convert: Callable, splits: Sequence[str], description: str,
         argv: Optional[Sequence[str]] = None) -> None:
    """Parse ``ROOT [--splits ...] [--no-progress]``, convert, and print what was written.

    Args:
        convert: ``convert(root, splits, progress)``, returning the files written.
        splits: The dataset's split names (all converted by default).
        description: The tool's one-line description.
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('root', help='the dataset folder, as downloaded')
    parser.add_argument('--splits', nargs='+', choices=list(splits), default=list(splits))
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    with exit_on_user_error(parser.prog):
        written = convert(args.root, args.splits, progress=not args.no_progress)
    for name, path in written.items():
        print(f'{name}: {path}')
