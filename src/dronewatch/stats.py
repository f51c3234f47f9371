"""Counters a stream keeps instead of raising or silently dropping."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class DecodeStats:
    """What a decoding run read, decoded and skipped (with the reason of each skip)."""

    packets_read: int = 0  # link-layer packets / IQ bursts examined
    frames_read: int = 0  # frames that carried a payload we know
    messages_decoded: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    samples_zeroed: int = 0  # IQ samples not finite or absurdly large, zeroed before reading
    warnings: list[str] = field(default_factory=list)  # what the input suggests is wrong

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    @property
    def frames_skipped(self) -> int:
        return sum(self.skipped.values())

    def merge(self, other: DecodeStats) -> None:
        self.packets_read += other.packets_read
        self.frames_read += other.frames_read
        self.messages_decoded += other.messages_decoded
        self.skipped.update(other.skipped)
        self.samples_zeroed += other.samples_zeroed
        self.warnings += [w for w in other.warnings if w not in self.warnings]

    def summary(self) -> str:
        """One line for people, e.g. for stderr at the end of ``dronewatch decode``."""
        line = (
            f"{self.packets_read} packets read, {self.frames_read} frames, "
            f"{self.messages_decoded} messages decoded, {self.frames_skipped} skipped"
        )
        if self.skipped:
            reasons = ", ".join(f"{r}: {n}" for r, n in self.skipped.most_common())
            line += f" ({reasons})"
        if self.samples_zeroed:
            line += f"; {self.samples_zeroed} IQ samples not finite or absurd were zeroed"
        for warning in self.warnings:
            line += f"; warning: {warning}"
        return line

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "packets_read": self.packets_read,
            "frames_read": self.frames_read,
            "messages_decoded": self.messages_decoded,
            "skipped": dict(self.skipped),
            "samples_zeroed": self.samples_zeroed,
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out
