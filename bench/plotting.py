"""How every chart of the benchmark ends: one title line over the laid-out figure, written as a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_figure(figure: Figure, title: str, path: Path) -> None:
    """Title, lay out and write `figure`, then close it (pyplot keeps every open figure alive)."""
    import matplotlib.pyplot as plt

    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
