"""This machine's calibrated speed profile: the CPU constants of the speed model fitted on
llama-bench runs here (`heavylift bench --calibrate`), kept as JSON under the data dir, one file
per hardware fingerprint (bench/machine.py). A profile for another fingerprint (the RAM, the CPU or
the GPUs changed) is ignored. `apply_profile` puts it on the local Rig, which `plan --hw local`,
`analyze`'s timeouts and bench's predictions all build through `hardware.spec.detect_local`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heavylift import paths
from heavylift.errors import UsageError

if TYPE_CHECKING:
    from heavylift.hardware.rig import Rig
    from heavylift.plan.speed_params import SpeedParams

VERSION = 1


@dataclass
class Profile:
    fingerprint: str
    created_at: str  # UTC, ISO 8601
    models: list[str]  # the models measured (labels)
    cpu_model: str
    physical_cores: int
    triad_bandwidth_bps: float  # the STREAM triad measured here (bench/machine.py)
    params: dict[str, Any]  # SpeedParams.to_dict() of the calibrated constants
    fitted: dict[str, str]  # constant -> "calibrated (N runs)" or "public fit (no run here depends on it)"
    # each measured configuration: model, test, n_prompt, n_gen, depth, measured, before, after (tok/s)
    points: list[dict[str, Any]] = field(default_factory=list)
    load_1m: float | None = None  # load average when measured
    command: str = ""
    version: int = VERSION

    def speed_params(self) -> SpeedParams:
        from heavylift.plan.speed_params import SpeedParams

        return SpeedParams.from_dict(self.params)

    def note(self) -> str:
        """The line plan's assumptions carry."""
        return (f"speed: calibrated on this machine {self.created_at[:10]} with {', '.join(self.models)} "
                f"(`heavylift bench profile`; `--uncalibrated` for the public fit)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def profile_dir() -> Path:
    return paths.data_dir() / "profiles"


def profile_path(fingerprint: str) -> Path:
    return profile_dir() / f"{fingerprint}.json"


def current_fingerprint() -> str:
    from heavylift.bench.machine import fingerprint, identity

    return fingerprint(identity())


def save(profile: Profile) -> Path:
    path = profile_path(profile.fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(profile.to_dict(), indent=1, sort_keys=True) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a profile
    return path


def load(fingerprint: str | None = None, *, strict: bool = False) -> Profile | None:
    """This machine's profile (or `fingerprint`'s); None when there is none. A file that does not
    parse is ignored (strict: refused with its path), so a broken profile never breaks `plan`."""
    path = profile_path(fingerprint or current_fingerprint())
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        names = {f.name for f in dataclasses.fields(Profile)}
        profile = Profile(**{k: v for k, v in data.items() if k in names})
        if not isinstance(profile.params, dict) or not isinstance(profile.triad_bandwidth_bps, (int, float)):
            raise ValueError("params or bandwidth missing")
    except (OSError, ValueError, TypeError) as e:
        if strict:
            raise UsageError(f"the speed profile {path} is unreadable ({e}); delete it with "
                             "`heavylift bench profile --reset` and calibrate again") from None
        return None
    return profile


def reset(fingerprint: str | None = None) -> bool:
    """Delete this machine's profile; False when there was none."""
    path = profile_path(fingerprint or current_fingerprint())
    if not path.exists():
        return False
    path.unlink()
    return True


def rig_with(rig: Rig, profile: Profile) -> Rig:
    """`rig` (this machine, detected) with the profile's constants, measured bandwidth and cores.
    The bandwidth stays subject to `cpu.bw_eff`, which the calibration fitted as the fraction of the
    triad that llama.cpp's kernels reach."""
    notes = [a for a in rig.assumptions if "bench --calibrate" not in a]
    return dataclasses.replace(
        rig, speed_params=profile.speed_params(), ram_bandwidth_bps=float(profile.triad_bandwidth_bps),
        cpu_cores=int(profile.physical_cores),
        ram_source=f"measured STREAM triad {profile.triad_bandwidth_bps / 1e9:.1f} GB/s (calibration profile)",
        assumptions=[*notes, profile.note()])


def apply_profile(rig: Rig) -> Rig:
    """The local rig with this machine's profile when one exists; as it is otherwise."""
    try:
        profile = load()
    except OSError:
        return rig
    return rig_with(rig, profile) if profile else rig
