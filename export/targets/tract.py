"""tract (Sonos' pure-Rust ONNX runtime): it reads the ``.onnx`` export as it is.

Every export form loads on tract 0.23 (fp16 ones because ganport writes a float16
Gemm's bias as its own Add, ``convert.to_float16``). fp32 and static-batch files agree
with torch to float32 rounding, int8 files compute what ONNX Runtime computes. fp16
files are not prepared for tract: it computes float16 in float16, and its float16
convolution has no fast kernel on x86. Measured on a default-width (64) conditional
DCGAN 28 at batch 64, one thread, CPU time: the fp16 D took 4170 ms against 16 ms for
the fp32 file on tract (and 11 ms for the fp16 file on ONNX Runtime), and its logits
were 4e-2 off the fp32 ones (ONNX Runtime's fp16: 1e-3), past the fp16 tolerance; the
fp16 G was 1.5x slower than tract's fp32 one for no gain. So an export for tract
checks its fp32, int8 and static-batch files there, and says to run those.
"""

from __future__ import annotations

from ganport.export.targets import Target

CAVEAT = (
    "fp16 files are not prepared for tract: it computes float16 convolutions in float16, "
    "slowly and inexactly (a default-width DCGAN 28 D: 260x its fp32 time, 4e-2 off); "
    "run the fp32 or int8 file on tract"
)

TARGET = Target(
    "tract",
    "tract (Sonos' pure-Rust ONNX runtime) runs the .onnx export itself (fp32, int8)",
    caveat=CAVEAT,
    takes=lambda options: not options.fp16,
)
