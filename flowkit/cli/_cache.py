"""``flowkit cache info DIR`` and ``flowkit cache clear DIR [--stage NAME]``."""

from __future__ import annotations

from pathlib import Path

import click

from flowkit._cache.files import CacheStats, clear, scan, stage_dirname
from flowkit.cli._usage import UsageFailure
from flowkit.errors import CacheError, did_you_mean


def _size(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{nbytes} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _scan(directory: Path) -> CacheStats:
    try:
        return scan(directory)
    except CacheError as error:
        raise UsageFailure(str(error)) from None


@click.group(name="cache")
def cache() -> None:
    """Inspect or clear a cache directory (see `flowkit run --cache DIR`)."""


@cache.command()
@click.argument("directory", type=click.Path(path_type=Path))
def info(directory: Path) -> None:
    """Entries and bytes per stage of the cache in DIRECTORY."""
    stats = _scan(directory)
    click.echo(f"cache {stats.path}")
    if not stats.stages:
        click.echo("no entries")
    else:
        width = max(len("stage"), *(len(name) for name in stats.stages))
        click.echo(f"{'stage':<{width}}  {'entries':>8}  {'size':>10}")
        for name, (entries, size) in stats.stages.items():
            click.echo(f"{name:<{width}}  {entries:>8}  {_size(size):>10}")
        click.echo(f"{'total':<{width}}  {stats.entries:>8}  {_size(stats.size):>10}")
    files, size = stats.temporary
    if files:
        click.echo(
            f"{_count(files, 'temporary file')} ({_size(size)}) left by interrupted writes; "
            "`flowkit cache clear` removes them"
        )


@cache.command(name="clear")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--stage",
    "stages",
    multiple=True,
    metavar="NAME",
    help="Remove only this stage's entries (repeatable). Default: every entry.",
)
def clear_command(directory: Path, stages: tuple[str, ...]) -> None:
    """Remove entries from the cache in DIRECTORY (all of them by default; the key stays)."""
    before = _scan(directory)
    for name in stages:
        if not (before.path / stage_dirname(name)).is_dir():
            click.echo(
                f"no entries for stage {name!r}{did_you_mean(name, before.stages)}", err=True
            )
    try:
        removed = clear(directory, stages or None)
    except CacheError as error:  # pragma: no cover - removed between the scan and here
        raise UsageFailure(str(error)) from None
    click.echo(f"removed {_count(removed.entries, 'entry', 'entries')} ({_size(removed.size)})")
    files, _ = removed.temporary
    if files:
        click.echo(f"removed {_count(files, 'temporary file')} left by interrupted writes")
