"""The spec language, as pydantic models.

A spec is a sequence of rows. A row is either one layer (`op: conv`, `op: maxpool`,
...) or a block: `op:` names a template under `blocks:`, and the row's other keys
are that template's parameters. A template is the general form of an Inception
module: named branches, each a sequence of layers, concatenated on channels.
Table 1's six-column row is just a block row whose template has the parameters
ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5 and pool_proj.

Inside a template, a channel count may be `$param` (a template parameter),
`$num_classes` (a global) or `$in_channels` (the channels entering the block). A
template may go on after the concatenation (`after:`) and add the result to a shortcut
(`residual:`: Inception-ResNet, Xception); a block row may repeat (`repeat: 10`).
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..limits import MAX_CHANNELS, MAX_ROWS, MAX_SPATIAL, MAX_TEXT, MAX_WIDTH

# -- scalar vocabulary --------------------------------------------------------

Positive = Annotated[StrictInt, Field(gt=0)]
#: Upper bounds: compiler/limits.py.
Channels = Annotated[StrictInt, Field(gt=0, le=MAX_CHANNELS)]
Extent = Annotated[StrictInt, Field(gt=0, le=MAX_SPATIAL)]
NonNegative = Annotated[StrictInt, Field(ge=0, le=MAX_SPATIAL)]
Number = StrictInt | StrictFloat
Fraction = Annotated[Number, Field(gt=0, le=1)]
Aspect = Annotated[Number, Field(gt=0, le=100)]
#: [low, high] of a random draw (checked low <= high where used).
Fractions = Annotated[list[Fraction], Field(min_length=2, max_length=2)]
Aspects = Annotated[list[Aspect], Field(min_length=2, max_length=2)]
#: `$name`: a reference to a template parameter or a global.
Ref = Annotated[str, Field(pattern=r"^\$[A-Za-z_][A-Za-z0-9_]*$")]
#: A channel count: a number, or a reference resolved when the block is instantiated.
Count = Channels | Ref
#: A square size `3` or a (height, width) pair `[1, 7]`.
Pair = Extent | tuple[Extent, Extent]
PadPair = NonNegative | tuple[NonNegative, NonNegative]
#: Layer names may start with a digit (`3x3_reduce`): they end up inside node names.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]
Activation = Literal["relu", "none"]
Norm = Literal["bn", "none"]
#: A residual branch's scale: a number or a template parameter (Inception-ResNet's 0.17).
Scale = Annotated[Number, Field(gt=0, le=MAX_CHANNELS)] | Ref

_OUTPUT = re.compile(r"^(\d+)x(\d+)x(\d+)$")


def _identifier(value: str) -> str:
    """Row, branch and template names become Python attributes and class names.

    Python reads identifiers NFKC-normalised (`ﬁx` is `fix`), so a name must already be
    in that form: then two names are one Python name exactly when they are equal strings.
    """
    if not value.isidentifier() or keyword.iskeyword(value):
        raise ValueError(f"{value!r} is not an identifier (letters, digits, _; no leading digit)")
    normal = unicodedata.normalize("NFKC", value)
    if normal != value:
        raise PydanticCustomError(
            "nfkc",
            "name {name} is not NFKC-normalised: Python reads it as {normal}; write that",
            {"name": repr(value), "normal": repr(normal)},
        )
    return value


#: A name that becomes a Python identifier (dict keys are checked where they are written).
Identifier = Annotated[str, AfterValidator(_identifier)]
#: Free text pasted into generated docstrings (escaped there by backends.common.py_text).
Text = Annotated[str, Field(max_length=MAX_TEXT)]


class Base(BaseModel):
    # defer_build: schemas are built once, on first validation, not for every class at import.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Paper(Base):
    params: Number | None = None
    ops: Number | None = None


# -- layers -------------------------------------------------------------------


class LayerBase(Base):
    op: str
    name: Name | None = None
    #: Table 1's "output size" written H x W x C (e.g. 28x28x256); checked, not assumed.
    output: str | None = None
    #: Values printed in the paper for this row, in the spec's `paper_units`.
    paper: Paper | None = None

    @field_validator("output")
    @classmethod
    def _output_form(cls, value: str | None) -> str | None:
        if value is not None and not _OUTPUT.match(value):
            raise ValueError(f"output must read HxWxC like 28x28x256, got {value!r}")
        return value

    def declared_output(self) -> tuple[int, int, int] | None:
        """The declared output as (C, H, W)."""
        if self.output is None:
            return None
        h, w, c = (int(g) for g in _OUTPUT.match(self.output).groups())  # type: ignore[union-attr]
        return (c, h, w)


class Conv(LayerBase):
    op: Literal["conv"]
    out: Count
    kernel: Pair
    stride: Pair = 1
    padding: PadPair = 0
    bias: StrictBool | None = None  # None: defaults.conv.bias
    norm: Norm | None = None  # None: defaults.conv.norm
    act: Activation | None = None  # None: defaults.conv.act
    #: Channel groups: in and out channels must both divide by it (depthwise: groups = in).
    groups: Annotated[StrictInt, Field(gt=0, le=MAX_CHANNELS)] = 1


class SepConv(LayerBase):
    """A depthwise separable convolution (Xception): a `kernel` convolution of each input
    channel on its own, then a 1x1 convolution to `out` channels; nothing between them."""

    op: Literal["sepconv"]
    out: Count
    kernel: Pair
    stride: Pair = 1
    padding: PadPair = 0
    bias: StrictBool | None = None  # None: defaults.conv.bias
    norm: Norm | None = None  # None: defaults.conv.norm
    act: Activation | None = None  # None: defaults.conv.act


class BatchNormLayer(LayerBase):
    """A batch norm of its own (where a reference keeps it apart from the convolution)."""

    op: Literal["bn"]
    scale: StrictBool | None = None  # None: defaults.bn.scale


class ReLU(LayerBase):
    """A ReLU of its own: Xception applies it before a convolution."""

    op: Literal["relu"]


class MaxPool(LayerBase):
    op: Literal["maxpool"]
    kernel: Pair
    stride: Pair | None = None  # None: the kernel size, as in torch
    padding: PadPair = 0
    ceil_mode: StrictBool | None = None  # None: defaults.pool.ceil_mode


class AvgPool(LayerBase):
    op: Literal["avgpool"]
    kernel: Pair
    stride: Pair | None = None
    padding: PadPair = 0
    ceil_mode: StrictBool | None = None
    #: Whether zero padding counts in the divisor (torch's default: yes).
    count_include_pad: StrictBool = True


class AdaptiveAvgPool(LayerBase):
    op: Literal["adaptive_avgpool"]
    size: Pair = 1


class LRN(LayerBase):
    """Caffe / torch LocalResponseNorm across channels: alpha is divided by size."""

    op: Literal["lrn"]
    size: Channels
    alpha: Annotated[Number, Field(gt=0)]
    beta: Annotated[Number, Field(gt=0)]
    k: Annotated[Number, Field(gt=0)] = 1.0


class Dropout(LayerBase):
    op: Literal["dropout"]
    p: Annotated[Number, Field(ge=0, lt=1)]


class Flatten(LayerBase):
    op: Literal["flatten"]


class Linear(LayerBase):
    op: Literal["linear"]
    out: Count
    bias: StrictBool = True
    act: Activation = "none"


class BlockRow(LayerBase):
    """A row that instantiates a template; its other keys are the template's arguments."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    op: str
    #: Instances of the block one after another (Inception-ResNet's Block35 x10); the
    #: block must keep its input's shape. Backends emit a loop, not copies.
    repeat: Annotated[StrictInt, Field(gt=0, le=MAX_ROWS)] = 1

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


PRIMITIVES: dict[str, type[LayerBase]] = {
    "conv": Conv,
    "maxpool": MaxPool,
    "avgpool": AvgPool,
    "adaptive_avgpool": AdaptiveAvgPool,
    "lrn": LRN,
    "dropout": Dropout,
    "flatten": Flatten,
    "linear": Linear,
    "sepconv": SepConv,
    "bn": BatchNormLayer,
    "relu": ReLU,
}


def _op(value: Any) -> str | None:
    op = value.get("op") if isinstance(value, dict) else getattr(value, "op", None)
    return op if isinstance(op, str) else None


def _row_tag(value: Any) -> str | None:
    op = _op(value)
    return None if op is None else op if op in PRIMITIVES else "block"


def _template_tag(value: Any) -> str | None:
    op = _op(value)
    return None if op is None else op if op in PRIMITIVES or op == "split" else "block"


_MISSING_OP = dict(
    custom_error_type="missing_op",
    custom_error_message="a layer needs `op:` (one of "
    + ", ".join(PRIMITIVES)
    + ", or a block name from `blocks:`)",
)
_LAYERS = (
    Annotated[Conv, Tag("conv")]
    | Annotated[SepConv, Tag("sepconv")]
    | Annotated[BatchNormLayer, Tag("bn")]
    | Annotated[ReLU, Tag("relu")]
    | Annotated[MaxPool, Tag("maxpool")]
    | Annotated[AvgPool, Tag("avgpool")]
    | Annotated[AdaptiveAvgPool, Tag("adaptive_avgpool")]
    | Annotated[LRN, Tag("lrn")]
    | Annotated[Dropout, Tag("dropout")]
    | Annotated[Flatten, Tag("flatten")]
    | Annotated[Linear, Tag("linear")]
)
#: A layer inside a block template: a built-in layer or a split.
Primitive = Annotated[
    _LAYERS | Annotated["Split", Tag("split")],
    Discriminator(_template_tag, **_MISSING_OP),  # type: ignore[arg-type]
]
#: A row of `layers:`: a built-in layer or a block instance.
Row = Annotated[
    _LAYERS | Annotated[BlockRow, Tag("block")],
    Discriminator(_row_tag, **_MISSING_OP),  # type: ignore[arg-type]
]


# -- templates, heads, model ----------------------------------------------------


Branch = Annotated[list[Primitive], Field(min_length=1)]


class Split(LayerBase):
    """Inside a template branch: sub-branches from one input, concatenated on channels
    (Inception-v3's expanded 1x3 / 3x1 pairs). Needs the block's `layout: flat`."""

    op: Literal["split"]
    branches: Annotated[dict[Identifier, Branch], Field(min_length=2)]


class Residual(Base):
    """A residual connection: out = act(shortcut(x) + scale * merged(x)), where merged is
    the branches' concatenation followed by the template's `after:` layers."""

    #: identity: the block's input itself; else layers from the input (a projection).
    shortcut: Literal["identity"] | Annotated[list[Primitive], Field(min_length=1)] = "identity"
    scale: Scale = 1
    act: Activation | Ref = "none"


class BlockDef(Base):
    """A block template: named branches of layers, concatenated on channels, then
    optionally `after:` layers and a residual add."""

    doc: Text = ""
    params: list[Identifier] = []
    #: How the torch backend arranges the block's modules:
    #: branches: one attribute per branch (an nn.Sequential when it has several layers);
    #: flat:     one attribute per layer, named after the layer (torchvision's Inception-v3).
    layout: Literal["branches", "flat"] = "branches"
    branches: Annotated[dict[Identifier, Branch], Field(min_length=1)]
    #: Layers applied to the concatenation (Inception-ResNet's 1x1 projection).
    after: list[Primitive] = []
    residual: Residual | None = None

    @field_validator("params")
    @classmethod
    def _params(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("params repeat a name")
        if "repeat" in value:
            raise ValueError("'repeat' is a row key (how often the row repeats), not a parameter")
        return value


class AuxHead(BlockRow):
    """An auxiliary classifier: a block that taps a row's output during training."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, defer_build=True)
    name: Name  # type: ignore[assignment]
    tap: str = Field(alias="from")
    loss_weight: Annotated[Number, Field(gt=0)]


class InputSpec(Base):
    channels: Channels
    size: Pair
    #: The generated torch module takes `transform_input` (off by default), as torchvision's
    #: googlenet and inception_v3 do: ImageNet-normalised RGB input is re-scaled per channel
    #: to the [-1, 1] range their pretrained weights were trained on. Needs 3 channels.
    transform_input: StrictBool = False

    @model_validator(mode="after")
    def _three_channels(self) -> InputSpec:
        if self.transform_input and self.channels != 3:
            raise ValueError(
                f"transform_input re-scales RGB input: needs 3 channels, not {self.channels}"
            )
        return self


class ConvDefaults(Base):
    bias: StrictBool = True
    norm: Norm = "none"
    act: Activation = "relu"


class BatchNormDefaults(Base):
    eps: Annotated[Number, Field(gt=0)] = 1e-5
    #: torch's convention: new = (1 - momentum) * old + momentum * batch.
    momentum: Annotated[Number, Field(gt=0, lt=1)] = 0.1
    #: false: no learned scale (gamma fixed at 1), as keras.applications' `scale=False`.
    scale: StrictBool = True


class PoolDefaults(Base):
    ceil_mode: StrictBool = False


class Defaults(Base):
    conv: ConvDefaults = Field(default_factory=ConvDefaults)
    bn: BatchNormDefaults = Field(default_factory=BatchNormDefaults)
    pool: PoolDefaults = Field(default_factory=PoolDefaults)


class Init(Base):
    """Weight initialization of conv and linear layers (BN: weight 1, bias 0).

    caffe_xavier: Caffe's "xavier" filler, uniform in +-sqrt(3 / fan_in).
    trunc_normal: normal(0, std) truncated to [-2, 2] (torchvision's googlenet).
    default:      the framework's own initializers.
    bias: a constant for every bias, or null for the framework's default.
    """

    weights: Literal["caffe_xavier", "trunc_normal", "default"] = "default"
    std: Annotated[Number, Field(gt=0)] = 0.01
    bias: Number | None = None


class PaperUnits(Base):
    """What one unit of a row's `paper:` numbers is worth."""

    params: Positive = 1000
    ops: Positive = 1_000_000


# -- training recipe -------------------------------------------------------------


class Augment(Base):
    """Augmentations applied to training batches (test batches are never augmented)."""

    #: Zero-pad each side by this many pixels, then crop back to the input size at random.
    crop_padding: NonNegative = 0
    #: Mirror left-right with probability 1/2 (right for clothes and objects, not for digits).
    flip: StrictBool = False
    #: Probability of random erasing (Zhong et al. 2017): one rectangle of 2-33% of the area.
    erasing: Annotated[Number, Field(ge=0, le=1)] = 0.0
    #: The paper's scale augmentation (GoogLeNet, section 6; torchvision's
    #: RandomResizedCrop): a box covering this fraction of the image's area, [low, high],
    #: of aspect (width / height) log-uniform in `ratio`, resized to the input size; null: off.
    scale: Fractions | None = None
    ratio: Aspects = [3 / 4, 4 / 3]

    @field_validator("scale", "ratio")
    @classmethod
    def _ordered(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"expected [low, high] with low <= high, got {value}")
        return value


class Training(Base):
    """How `incept train` trains the model; every key can be overridden by a CLI flag."""

    #: rmsprop: TensorFlow's RMSProp, which trained Inception-v3 and v4 (decay 0.9,
    #: epsilon 1.0 inside the square root, mean squares starting at 1, momentum).
    optimizer: Literal["sgd", "adamw", "rmsprop"] = "sgd"
    lr: Annotated[Number, Field(gt=0)] = 0.05
    momentum: Annotated[Number, Field(ge=0, lt=1)] = 0.9  # SGD and RMSProp
    nesterov: StrictBool = False  # SGD only
    rms_decay: Annotated[Number, Field(ge=0, lt=1)] = 0.9  # RMSProp: the mean squares' decay
    rms_eps: Annotated[Number, Field(gt=0)] = 1.0  # RMSProp: added before the square root
    #: Scale the gradients down to this global L2 norm when it is larger (Inception-v3
    #: trained with 2.0); 0: off.
    clip_grad_norm: Annotated[Number, Field(ge=0)] = 0.0
    weight_decay: Annotated[Number, Field(ge=0)] = 5e-4
    label_smoothing: Annotated[Number, Field(ge=0, lt=1)] = 0.0
    batch_size: Positive = 128
    epochs: Positive = 30
    #: paper: lr x gamma every step_epochs epochs (GoogLeNet: x0.96 every 8 epochs);
    #: cosine: cosine decay to 0; onecycle: ramp up to lr, then cosine down to lr / 1e5;
    #: constant: lr throughout. Every schedule starts with `warmup_epochs` of linear ramp.
    schedule: Literal["paper", "cosine", "onecycle", "constant"] = "cosine"
    warmup_epochs: Annotated[Number, Field(ge=0)] = 0
    step_epochs: Positive = 8
    gamma: Annotated[Number, Field(gt=0, le=1)] = 0.96
    #: Train the aux heads (their losses weighted by each head's `loss_weight`).
    aux: StrictBool = True
    augment: Augment = Field(default_factory=Augment)
    #: Polyak averaging (the GoogLeNet and Inception-v3 papers' final models): the
    #: decay of an exponential moving average of the weights, updated after every step
    #: with min(ema, (1 + n) / (10 + n)) at step n; the test metrics, best.*, eval,
    #: predict and export use the averaged weights. 0: off.
    ema: Annotated[Number, Field(ge=0, lt=1)] = 0.0


class Spec(Base):
    name: Name
    #: The emitted model class; defaults to the spec name in CamelCase.
    class_name: str | None = None
    description: Text = ""
    input: InputSpec
    num_classes: Channels
    #: Scales every conv width and block argument: max(1, round_half_up(c * w)).
    width_multiplier: Annotated[Number, Field(gt=0, le=MAX_WIDTH)] = 1.0
    #: Whether build() attaches the aux heads when not told.
    aux_logits: StrictBool = False
    defaults: Defaults = Field(default_factory=Defaults)
    init: Init = Field(default_factory=Init)
    paper_units: PaperUnits = Field(default_factory=PaperUnits)
    blocks: dict[Identifier, BlockDef] = {}
    layers: Annotated[list[Row], Field(min_length=1, max_length=MAX_ROWS)]
    aux_heads: Annotated[list[AuxHead], Field(max_length=MAX_ROWS)] = []
    #: The recipe of `incept train`; not part of the generated model.
    training: Training = Field(default_factory=Training)

    @field_validator("class_name")
    @classmethod
    def _class_name(cls, value: str | None) -> str | None:
        return None if value is None else _identifier(value)

    @field_validator("blocks")
    @classmethod
    def _block_names(cls, value: dict[str, BlockDef]) -> dict[str, BlockDef]:
        for name in value:
            if name in PRIMITIVES:
                raise ValueError(f"block name {name!r} shadows the built-in layer op {name!r}")
        return value
