"""One factory per fault family: `--nemesis kill:minority` is the `kill` family's `minority`
variant. Each shipped entry point loads a `Family`, which checks the variant and hands the
chosen one to the module's builder.

The package's name is what the user would write: the family alone for its default (first)
variant, `family:variant` otherwise. Schedules are seeded by `schedule_key`, the name with a
hyphen where the colon is (`kill-minority`), which was each package's name before variants, so
a seed gives the same faults it gave then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.seams import HarnessError, NemesisOptions, NemesisPackage

Build = Callable[[str, str, NemesisOptions], NemesisPackage]  # (variant, name, options)


@dataclass(frozen=True)
class Family:
    """A `NemesisFactory`: `family(options)` builds the package for `options.variant`."""

    name: str
    variants: tuple[str, ...]  # the first is the default; empty when the fault has no variants
    build: Build

    def __call__(self, options: NemesisOptions) -> NemesisPackage:
        variant = self.variant(options.variant)
        return self.build(variant, self.label(variant), options)

    def variant(self, asked: str) -> str:
        if not self.variants:
            if asked:
                raise HarnessError(f"--nemesis {self.name}:{asked}: {self.name} has no variants; write --nemesis {self.name}")
            return ""
        if not asked:
            return self.variants[0]
        if asked not in self.variants:
            raise HarnessError(f"--nemesis {self.name}:{asked}: unknown variant {asked!r}; choose one of "
                               + ", ".join(f"{self.name}:{v}" for v in self.variants))
        return asked

    def label(self, variant: str) -> str:
        """The user-facing name of the package for this variant."""
        return self.name if not self.variants or variant == self.variants[0] else f"{self.name}:{variant}"


def schedule_key(name: str) -> str:
    return name.replace(":", "-")
