"""Upper bounds on what a spec may ask for (docs/reliability.md lists each with its code).

Every spec is treated as hostile: these keep a bad or malicious file from exhausting
memory or time before it is refused. Each bound is far above any real Inception network
(the largest shipped spec, inception-v3.yaml, is 7 KB: 883 YAML nodes, 133 IR nodes,
at most 2,048 channels in a tensor and 1,024 in a layer).
"""

from __future__ import annotations

#: Bytes in a spec file (each base of `extends:` counts on its own). Checked before parsing.
MAX_FILE_BYTES = 256 * 1024
#: Nesting of YAML mappings and sequences; checked while composing, before recursion gets deep.
MAX_DEPTH = 32
#: YAML nodes after aliases are expanded, counted before they are (billion laughs).
MAX_YAML_NODES = 10_000
#: Magnitude of any number in a spec (exact as a float; far beyond any size or count).
MAX_NUMBER = 2**53
#: Bases in one `extends:` chain.
MAX_EXTENDS = 8
#: Rows in `layers:`, and in `aux_heads:`.
MAX_ROWS = 1_000
#: IR nodes after every block row is expanded (templates multiply).
MAX_IR_NODES = 20_000
#: Channels of any conv or linear layer (after `width_multiplier`), and `num_classes`.
MAX_CHANNELS = 65_536
#: Input height/width, and any kernel, stride or padding.
MAX_SPATIAL = 8_192
#: Channels or flat features of any inferred tensor (a concat or a flatten adds them up).
MAX_FEATURES = 1 << 24
#: `width_multiplier`.
MAX_WIDTH = 64
#: Characters in `description:` or a template's `doc:`.
MAX_TEXT = 4_096
