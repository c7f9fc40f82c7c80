"""Where and how a Keras run executes: device, mixed precision, XLA.

Defaults follow the hardware, as on the torch side: on a GPU the mixed_bfloat16
policy and XLA (`jit_compile`) are on; on the CPU both are off. `--device cpu` hides
the GPUs from TensorFlow and `--device gpu:N` all but one (before TensorFlow first
touches a device; `cuda` is accepted for `gpu`).

`--replicas N` trains data-parallel under tf.distribute.MirroredStrategy: on the
first N GPUs, or on a CPU split into N logical devices (the way to test it without
GPUs). Each replica takes `batch_size` images per step, as each torchrun rank does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Code, InputError
from ..job import Options

_POLICIES = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16", "fp32": "float32"}


@dataclass(frozen=True)
class Runtime:
    device: str  # "cpu" or "gpu"
    policy: str  # Keras dtype policy: float32 | mixed_bfloat16 | mixed_float16
    jit_compile: bool
    replicas: int = 1

    def strategy(self) -> Any:
        """The tf.distribute strategy a run builds and steps under."""
        import tensorflow as tf

        if self.replicas == 1:
            return tf.distribute.get_strategy()  # the default: no distribution
        kind = "GPU" if self.device == "gpu" else "CPU"
        devices = [d.name for d in tf.config.list_logical_devices(kind)][: self.replicas]
        return tf.distribute.MirroredStrategy(devices)


def setup(options: Options) -> Runtime:
    """Resolve the options, hide the GPUs for --device cpu and set the dtype policy."""
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise InputError(
            Code.FLAG,
            "--backend",
            f"Keras training runs on TensorFlow, but Keras was loaded with KERAS_BACKEND="
            f"{keras.backend.backend()}; unset it or set it to tensorflow",
        )
    name = options.device.replace("cuda", "gpu")  # torch's spelling is welcome too
    if name not in ("auto", "cpu", "gpu") and not name.startswith("gpu:"):
        raise InputError(
            Code.FLAG, "--device", f"unknown device {name!r} for keras (auto | cpu | gpu)"
        )
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "gpu" if gpus else "cpu"
    if name.startswith("gpu") and not gpus:
        raise InputError(Code.FLAG, "--device", f"{name} asked for, but TensorFlow sees no GPU")
    gpu = name.startswith("gpu")
    index = name.partition(":")[2]
    if index and not (index.isdigit() and int(index) < len(gpus)):
        raise InputError(Code.FLAG, "--device", f"{name}: TensorFlow sees {len(gpus)} GPU(s)")
    visible = [gpus[int(index)]] if index else (gpus if gpu else [])
    _check_replicas(options.replicas, len(visible) if gpu else None)
    if visible != gpus:
        try:
            tf.config.set_visible_devices(visible, "GPU")
        except RuntimeError:  # devices already initialised in this process: keep them
            pass
    precision = options.precision if options.precision != "auto" else ("bf16" if gpu else "fp32")
    if precision not in _POLICIES:
        raise InputError(Code.FLAG, "--precision", f"unknown precision {precision!r}")
    keras.mixed_precision.set_global_policy(_POLICIES[precision])
    return Runtime(
        device="gpu" if gpu else "cpu",
        policy=_POLICIES[precision],
        jit_compile=gpu if options.compile is None else options.compile,
        replicas=options.replicas,
    )


def _check_replicas(replicas: int, gpus: int | None) -> None:
    """Refuse more replicas than GPUs; on the CPU split it into `replicas` devices."""
    import tensorflow as tf

    if gpus is not None:
        if replicas > gpus:
            raise InputError(
                Code.FLAG, "--replicas", f"{replicas} asked for, {gpus} GPU(s) visible"
            )
        return
    if replicas == 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        config = tf.config.LogicalDeviceConfiguration()
        tf.config.set_logical_device_configuration(cpu, [config] * replicas)
    except RuntimeError:  # TensorFlow already started in this process: too late to split
        if len(tf.config.list_logical_devices("CPU")) != replicas:
            raise InputError(
                Code.FLAG, "--replicas", "TensorFlow has already started in this process; "
                "split the CPU in a new process (incept train ... --replicas N)",
            ) from None  # fmt: skip
