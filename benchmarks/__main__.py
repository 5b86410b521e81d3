"""Run benchmarks: ``python -m benchmarks [name ...]`` (``gmm`` or ``bench_gmm``; none given: all).

Every ``benchmarks/bench_<name>.py`` defines ``main(argv=())``; here each runs with its
defaults. For a benchmark's options run it alone: ``python -m benchmarks.bench_gmm --help``.
"""

import argparse
import importlib
from pathlib import Path


def available():
    """Names of the benchmarks in this folder, sorted."""
    return sorted(path.stem.removeprefix("bench_") for path in Path(__file__).parent.glob("bench_*.py"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    names = [name.removesuffix(".py").removeprefix("bench_") for name in parser.parse_args(argv).names]
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; available: {', '.join(available())}")
    for name in names or available():
        print(f"## {name}\n", flush=True)
        importlib.import_module(f"benchmarks.bench_{name}").main(())
        print(flush=True)


if __name__ == "__main__":
    main()
