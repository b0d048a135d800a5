#!/usr/bin/env python3
"""SFNet on this CPU, engine against engine, in one run: ONNX Runtime fp32 and int8 (static QDQ), OpenVINO int8
(when the openvino package is installed), PyTorch eager fp32, segstream fp32 and int8.

    bench/compare.sh --calib DIR [--model df1=models/sfnet-df1-synth.safetensors] [--archs r18,df1]
        [--sizes 512x1024,1024x2048] [--threads 2] [--runs 10] [--warmup 2] [--markdown FILE]

Same network, weights, input frame and thread count everywhere:
  * the weights come from a segstream model file (--model ARCH=FILE; df1 defaults to
    models/sfnet-df1-synth.safetensors when it exists); otherwise random weights (seeded) are written to a temporary
    model file with tools/convert_checkpoint.py's writer, so segstream and the peers load the same numbers;
  * the PyTorch oracle (tools/sfnet/model.py) loads that file and is exported to ONNX (opset 17, GridSample); the
    FAM's base grid is precomputed as a constant. The graph ends in the upsample to the input size and the argmax,
    like segstream's labels path;
  * ORT int8: quantize_static, QuantFormat.QDQ, per-channel, activations QUInt8, weights QInt8, calibrated on the
    images in --calib (the same frames `segstream quantize --calibrate` gets), resized to the size with FFmpeg's
    bilinear swscale; OpenVINO runs that same QDQ model;
  * every engine times the same frame (--input, default the first calibration image): median of --runs after
    --warmup; ORT: intra_op_num_threads=THREADS, inter_op_num_threads=1, sequential, all graph optimizations;
  * segstream runs through `segstream profile --json` (release build); its int8 row needs `segstream quantize`
    and `--precision int8` and says "pending" while they do not exist;
  * PyTorch eager fp32 is bench/torch_fp32.py (random weights and input: the time does not depend on them).

GMAC/s and % of peak are given for every row from the same MAC count (the convs, counted on the PyTorch model with
forward hooks); peak: this CPU's per-core fp32 and int8 multiply-accumulate rates as `segstream profile` measures
them at start (its `peak_gmacs`), times min(threads, cores).
"Speed vs ORT int8" is ORT int8's median time divided by the row's (above 1: faster than ORT int8).

Validate cheaply: bench/compare.sh --calib DIR --sizes 128x256 --runs 2 --warmup 1
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


def log(message: str) -> None:
    print(f"compare: {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower())
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"size must be HEIGHTxWIDTH, e.g. 512x1024 (got {text!r})")
    return int(m.group(1)), int(m.group(2))


def calibration_images(directory: str, count: int) -> list[str]:
    if not os.path.isdir(directory):
        raise BenchError(f"--calib {directory}: not a directory")
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise BenchError(f"--calib {directory}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    if len(files) <= count:
        return files
    step = len(files) / count   # evenly over the directory, as segstream quantize samples its inputs
    return [files[int(i * step)] for i in range(count)]


def load_rgb(path: str, height: int, width: int) -> np.ndarray:
    """First frame of an image/video scaled to height×width by FFmpeg's bilinear swscale, RGB24, H×W×3."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-frames:v", "1",
           "-vf", f"scale={width}:{height}:flags=bilinear", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0 or len(r.stdout) != height * width * 3:
        raise BenchError(f"cannot decode {path}: {r.stderr.decode(errors='replace').strip()[:300]}")
    return np.frombuffer(r.stdout, dtype=np.uint8).reshape(height, width, 3)


def normalize(rgb: np.ndarray, mean, std) -> np.ndarray:
    x = rgb.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


# ---------------------------------------------------------------------------------------------------------------
# The network: one model file for every engine


def random_model_file(arch: str, path: str, seed: int) -> None:
    import torch
    from convert_checkpoint import model_metadata, save_model
    from sfnet import build_sfnet
    torch.manual_seed(seed)
    model = build_sfnet(arch)
    with torch.no_grad():   # non-trivial BN statistics, as a trained model has
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_model(tensors, model_metadata(arch, 19, True, source=f"bench/compare.py random weights, seed {seed}"), path)


def load_torch_model(path: str):
    import torch
    from safetensors import safe_open
    from sfnet import build_sfnet
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    if meta.get("precision", "fp32") != "fp32":
        raise BenchError(f"{path}: an fp32 model file is needed (this one is {meta.get('precision')})")
    model = build_sfnet(meta["arch"], int(meta["num_classes"]), meta.get("warp_align_corners", "true") == "true",
                        int(meta.get("width_divisor", "1")))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise BenchError(f"{path} does not match the PyTorch SFNet: missing {missing[:3]}, unexpected {unexpected[:3]}")
    mean = json.loads(meta["mean"]) if "mean" in meta else [0.485, 0.456, 0.406]
    std = json.loads(meta["std"]) if "std" in meta else [0.229, 0.224, 0.225]
    return model.eval(), meta, mean, std


def conv_macs(model, height: int, width: int) -> int:
    import torch
    total = [0]

    def hook(module, inputs, output):
        _, oc, oh, ow = output.shape
        kh, kw = module.kernel_size
        total[0] += oc * oh * ow * (module.in_channels // module.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        model(torch.zeros(1, 3, height, width))
    for h in handles:
        h.remove()
    return total[0]


def patch_constant_grid() -> None:
    """The FAM builds its base grid with linspace/stack at run time; for export it becomes a constant
    (the sizes are static), computed eagerly once per size and then captured by the tracer."""
    import torch
    import torch.nn.functional as F
    import sfnet.model as sm
    if getattr(sm, "_compare_patched", False):
        return
    cache: dict = {}

    def flow_warp(x, flow, size, align_corners=True):
        out_h, out_w = int(size[0]), int(size[1])
        key = (out_h, out_w, x.dtype)
        if key not in cache:
            # Normal tensors even when first called under inference_mode: the patch stays in place for the
            # process, and a training step that later reads an inference tensor fails (the pytest run has both).
            with torch.inference_mode(False), torch.no_grad():
                gy = torch.linspace(-1.0, 1.0, out_h, dtype=x.dtype).view(-1, 1).repeat(1, out_w)
                gx = torch.linspace(-1.0, 1.0, out_w, dtype=x.dtype).repeat(out_h, 1)
                grid = torch.stack((gx, gy), 2).unsqueeze(0)
                norm = torch.tensor([[[[out_w, out_h]]]], dtype=x.dtype)
            cache[key] = (grid, norm)
        grid, norm = cache[key]
        return F.grid_sample(x, grid + flow.permute(0, 2, 3, 1) / norm, mode="bilinear", padding_mode="zeros",
                             align_corners=align_corners)

    sm.flow_warp = flow_warp
    sm._compare_patched = True


def patch_adaptive_pools(model) -> None:
    """ONNX has no adaptive average pool for bins that do not divide the input (PPM bins 3 and 6 at most sizes).
    Average pooling over a rectangle is separable, so each pool becomes two matmuls with constant averaging
    matrices built with PyTorch's bin rule (start = floor(i·L/s), end = ceil((i+1)·L/s)); same values."""
    import torch

    class MatmulAdaptiveAvgPool(torch.nn.Module):
        def __init__(self, bins):
            super().__init__()
            self.bins = (bins, bins) if isinstance(bins, int) else tuple(bins)
            self.cache: dict = {}

        @staticmethod
        def matrix(out: int, length: int) -> torch.Tensor:
            m = torch.zeros(out, length)
            for i in range(out):
                start, end = (i * length) // out, -((-(i + 1) * length) // out)
                m[i, start:end] = 1.0 / (end - start)
            return m

        def forward(self, x):
            h, w = int(x.shape[2]), int(x.shape[3])
            if (h, w) not in self.cache:
                self.cache[(h, w)] = (self.matrix(self.bins[0], h), self.matrix(self.bins[1], w).t().contiguous())
            ph, pw_t = self.cache[(h, w)]
            return torch.matmul(ph, torch.matmul(x, pw_t))

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.AdaptiveAvgPool2d):
                setattr(module, name, MatmulAdaptiveAvgPool(child.output_size))


def export_onnx(model, height: int, width: int, path: str) -> None:
    import torch

    class Labels(torch.nn.Module):
        """Input-size logits → train ids, as segstream's labels path (and bench/torch_fp32.py) computes."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x).argmax(1)

    patch_constant_grid()
    patch_adaptive_pools(model)
    wrapper = Labels(model).eval()
    x = torch.zeros(1, 3, height, width)
    with torch.inference_mode():
        wrapper(x)   # fills the grid cache outside the trace
    with torch.no_grad():
        torch.onnx.export(wrapper, (x,), path, opset_version=17, input_names=["input"], output_names=["labels"],
                          do_constant_folding=True, dynamo=False)


def reference_check(model, onnx_path: str, x: np.ndarray) -> float:
    """Fraction of pixels where ORT fp32's labels equal PyTorch's: catches a broken export."""
    import onnxruntime as ort
    import torch
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).argmax(1).numpy()
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x})[0]
    return float((got == ref).mean())


# ---------------------------------------------------------------------------------------------------------------
# ORT int8


def quantize_ort(fp32_path: str, int8_path: str, calib: list[np.ndarray], method: str, workdir: str) -> None:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calib)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {"input": x}

    prepared = os.path.join(workdir, os.path.basename(fp32_path).replace(".onnx", "-prep.onnx"))
    try:
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=False)
    except Exception as e:   # pre-processing is an optimization; quantize the plain export if it fails
        log(f"quant_pre_process failed ({str(e).splitlines()[0][:200]}); quantizing the plain export")
        prepared = fp32_path
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    quantize_static(prepared, int8_path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=methods[method],
                    extra_options={"CalibPercentile": 99.99} if method == "percentile" else None)


# ---------------------------------------------------------------------------------------------------------------
# Timing


def time_calls(fn, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def time_ort(path: str, x: np.ndarray, threads: int, runs: int, warmup: int) -> list[float]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {"input": x}
    try:
        return time_calls(lambda: sess.run(None, feed), runs, warmup)
    finally:
        del sess
        gc.collect()


def openvino_available() -> str | None:
    try:
        import openvino
        return openvino.__version__ if hasattr(openvino, "__version__") else openvino.get_version()
    except Exception:
        return None


def time_openvino(path: str, x: np.ndarray, threads: int, runs: int, warmup: int) -> list[float]:
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    try:
        return time_calls(lambda: request.infer({0: x}), runs, warmup)
    finally:
        del request, compiled
        gc.collect()


def time_torch(model: str, height: int, width: int, threads: int, runs: int, warmup: int) -> list[float] | str:
    """bench/torch_fp32.py in its own process (the unpatched oracle, the export patches do not apply)."""
    cmd = [sys.executable, os.path.join(ROOT, "bench", "torch_fp32.py"), "--model", model, "--height", str(height),
           "--width", str(width), "--threads", str(threads), "--iterations", str(runs), "--warmup", str(warmup)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"median ([0-9.]+) ms", r.stdout)
    if r.returncode != 0 or not m:
        return f"failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}"
    return [float(m.group(1))]   # torch_fp32.py prints only the median


def segstream_profile(binary: str, model: str, precision: str, height: int, width: int, threads: int, runs: int,
                      warmup: int, frame: str, layer_runs: int) -> dict | str:
    cmd = [binary, "profile", "--model", model, "--precision", precision, "--size", f"{height}x{width}",
           "--threads", str(threads), "--iterations", str(runs), "--warmup", str(warmup), "--input", frame,
           "--layer-runs", str(layer_runs), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        message = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        if precision == "int8" and ("pending" in message or "not available" in message or r.returncode == 69):
            return "pending"
        return f"failed: {message}"
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        return f"failed: not JSON: {r.stdout[:200]}"


def segstream_quantize(binary: str, model: str, calib: list[str], count: int, threads: int, out: str,
                       extra: list[str]) -> str | None:
    """Makes the int8 model with `segstream quantize`; returns None, or why there is none ("pending" while the
    command does not exist)."""
    probe = subprocess.run([binary, "--help"], capture_output=True, text=True)
    if not re.search(r"^\s+quantize\s", probe.stdout, re.MULTILINE):
        return "pending"
    cmd = [binary, "quantize", "--model", model, "--calibrate", *calib, "--frames", str(count), "--threads",
           str(threads), "-o", out, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return f"quantize failed: {(r.stderr.strip().splitlines() or ['exit %d' % r.returncode])[-1]}"
    return None


# ---------------------------------------------------------------------------------------------------------------
# Report


def cpu_description() -> tuple[str, set[str]]:
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name in ("", platform.machine(), platform.processor()):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return name, flags


def int8_isa(flags: set[str]) -> str:
    if {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"} <= flags:
        return "avx512vnni"
    if "avx2" in flags:
        return "avx2"
    return "scalar"


def fmt(value, spec: str, missing: str = "–") -> str:
    return missing if value is None else format(value, spec)


def measured_peaks(results: list[dict]) -> dict[str, float]:
    """Peak GMAC/s per precision for the run's threads, as segstream profile measured it (none without its rows)."""
    peaks = {}
    for case in results:
        for r in case["engines"].values():
            prof = r.get("profile")
            if prof and prof.get("peak_gmacs"):
                peaks[r["precision"]] = prof["peak_gmacs"]
    return peaks


def build_rows(results: list[dict], peaks: dict[str, float]) -> list[dict]:
    rows = []
    for case in results:
        ort_int8 = case["engines"].get("ORT int8", {}).get("median_ms")
        for engine, r in case["engines"].items():
            row = {"arch": case["arch"], "size": case["size"], "engine": engine, "note": r.get("note")}
            ms = r.get("median_ms")
            row["median_ms"] = ms
            row["fps"] = 1000 / ms if ms else None
            row["speed_vs_ort_int8"] = ort_int8 / ms if ms and ort_int8 else None
            gmac = case["gmac"]
            row["gmacs"] = gmac / (ms / 1000) if ms else None
            peak = peaks.get(r["precision"])
            row["peak_fraction"] = row["gmacs"] / peak if row["gmacs"] and peak else None
            rows.append(row)
    return rows


def markdown(rows: list[dict], results: list[dict], header: list[str]) -> str:
    out = ["## SFNet inference on this CPU: segstream vs ONNX Runtime, OpenVINO and PyTorch", ""]
    out += [f"- {h}" for h in header]
    out += ["", "| arch | size (H×W) | GMAC | engine | median ms | FPS | speed vs ORT int8 | GMAC/s | % of peak |",
            "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    gmac = {(c["arch"], c["size"]): c["gmac"] for c in results}
    for r in rows:
        if r["median_ms"] is None:
            out.append(f"| {r['arch']} | {r['size']} | {gmac[(r['arch'], r['size'])]:.4g} | {r['engine']} | "
                       f"{r['note'] or 'n/a'} | | | | |")
            continue
        out.append(f"| {r['arch']} | {r['size']} | {gmac[(r['arch'], r['size'])]:.4g} | {r['engine']} | "
                   f"{r['median_ms']:.1f} | {r['fps']:.2f} | {fmt(r['speed_vs_ort_int8'], '.2f')}× | "
                   f"{r['gmacs']:.4g} | {fmt(r['peak_fraction'] and 100 * r['peak_fraction'], '.0f')} % |")
    out += ["", "### fp32: segstream vs PyTorch eager (issue 2)", "",
            "| arch | size (H×W) | segstream fp32 ms | PyTorch eager ms | ORT fp32 ms | PyTorch / segstream |",
            "|---|---|---:|---:|---:|---:|"]
    for c in results:
        e = c["engines"]
        s, t, o = (e.get(k, {}).get("median_ms") for k in ("segstream fp32", "PyTorch eager fp32", "ORT fp32"))
        out.append(f"| {c['arch']} | {c['size']} | {fmt(s, '.1f')} | {fmt(t, '.1f')} | {fmt(o, '.1f')} | "
                   f"{fmt(t / s if s and t else None, '.2f')}× |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="See the top of bench/compare.py.")
    p.add_argument("--calib", required=True, help="directory of calibration images (the frames segstream quantize uses)")
    p.add_argument("--calib-count", type=int, default=32, help="calibration images, spread over the directory (32)")
    p.add_argument("--calib-method", choices=["minmax", "entropy", "percentile"], default="minmax",
                   help="ORT calibration (minmax; the choice changes accuracy, not speed)")
    p.add_argument("--model", action="append", default=[], metavar="ARCH=FILE",
                   help="segstream fp32 model file for an arch (default: random weights; df1: "
                        "models/sfnet-df1-synth.safetensors when present)")
    p.add_argument("--archs", default="r18,df1")
    p.add_argument("--sizes", default="512x1024,1024x2048", help="comma-separated HEIGHTxWIDTH")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10, help="timed runs per engine (median)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--input", help="image or video whose first frame every engine times (default: first calib image)")
    p.add_argument("--segstream", help="segstream binary (default: .build/release/segstream; bench/compare.sh builds it)")
    p.add_argument("--segstream-quantize-args", default="", help="extra arguments for `segstream quantize`")
    p.add_argument("--layer-runs", type=int, default=1, help="per-layer passes in the saved segstream profiles")
    p.add_argument("--engines", default="ort-fp32,ort-int8,openvino-int8,torch-fp32,segstream-fp32,segstream-int8")
    p.add_argument("--markdown", default=os.path.join(ROOT, "bench", "results", "compare.md"))
    p.add_argument("--json-out", help="all results as JSON (default: beside --markdown)")
    p.add_argument("--workdir", help="keep the ONNX/model files here (default: a temporary directory, removed)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    try:
        return run(a)
    except BenchError as e:
        log(str(e))
        return 66 if "not a directory" in str(e) or "no images" in str(e) or "not found" in str(e) else 65


def run(a) -> int:
    import onnxruntime
    import torch
    sizes = [parse_size(s) for s in a.sizes.split(",") if s.strip()]
    archs = [s.strip() for s in a.archs.split(",") if s.strip()]
    engines = {e.strip() for e in a.engines.split(",")}
    models = {}
    for spec in a.model:
        arch, _, path = spec.partition("=")
        if not path:
            raise BenchError(f"--model wants ARCH=FILE (got {spec!r})")
        if not os.path.isfile(path):
            raise BenchError(f"--model {spec}: file not found")
        models[arch] = os.path.abspath(path)
    synth = os.path.join(ROOT, "models", "sfnet-df1-synth.safetensors")
    if "df1" not in models and os.path.isfile(synth):
        models["df1"] = synth
    binary = a.segstream or os.path.join(ROOT, ".build", "release", "segstream")
    want_segstream = bool({"segstream-fp32", "segstream-int8"} & engines)
    if want_segstream and not os.access(binary, os.X_OK):
        raise BenchError(f"segstream binary not found: {binary} (build it: swift build -c release --product segstream)")
    calib_files = calibration_images(a.calib, a.calib_count)
    frame = a.input or calib_files[0]
    if not os.path.isfile(frame):
        raise BenchError(f"--input {frame}: file not found")
    torch.set_num_threads(a.threads)
    cpu, flags = cpu_description()
    isa = int8_isa(flags)
    ov_version = openvino_available() if "openvino-int8" in engines else None
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        log(f"warning: load average {load_before[0]:.2f}: other work is running and the timings will show it")
    workdir = a.workdir or tempfile.mkdtemp(prefix="segstream-compare-")
    os.makedirs(workdir, exist_ok=True)
    results = []
    try:
        for arch in archs:
            model_path = models.get(arch)
            if model_path is None:
                model_path = os.path.join(workdir, f"{arch}-random.safetensors")
                random_model_file(arch, model_path, a.seed)
                log(f"{arch}: random weights (seed {a.seed}) in {model_path}")
            model, meta, mean, std = load_torch_model(model_path)
            if meta["arch"] != arch:
                raise BenchError(f"{model_path} is arch {meta['arch']}, not {arch}")
            int8_model, int8_note = None, None
            if "segstream-int8" in engines:
                int8_model = os.path.join(workdir, f"{arch}-int8.safetensors")
                int8_note = segstream_quantize(binary, model_path, calib_files, len(calib_files), a.threads, int8_model,
                                               shlex.split(a.segstream_quantize_args))
                if int8_note:
                    log(f"{arch}: segstream int8: {int8_note}")
            for height, width in sizes:
                size = f"{height}x{width}"
                log(f"{arch} {size}: preparing")
                case = {"arch": arch, "size": size, "model": model_path, "engines": {},
                        "gmac": conv_macs(model, height, width) / 1e9}
                x = normalize(load_rgb(frame, height, width), mean, std)
                fp32_onnx = os.path.join(workdir, f"{arch}-{size}-fp32.onnx")
                int8_onnx = os.path.join(workdir, f"{arch}-{size}-int8.onnx")
                export_onnx(model, height, width, fp32_onnx)
                agreement = reference_check(model, fp32_onnx, x)
                case["onnx_vs_torch_label_agreement"] = agreement
                if agreement < 0.999:
                    log(f"warning: ORT fp32 labels agree with PyTorch on only {100 * agreement:.2f} % of pixels")
                need_int8_onnx = bool({"ort-int8", "openvino-int8"} & engines)
                if need_int8_onnx:
                    log(f"{arch} {size}: calibrating ORT int8 on {len(calib_files)} images ({a.calib_method})")
                    calib = [normalize(load_rgb(f, height, width), mean, std) for f in calib_files]
                    quantize_ort(fp32_onnx, int8_onnx, calib, a.calib_method, workdir)
                    del calib

                def record(name, precision, outcome, extra=None):
                    entry = {"precision": precision}
                    if isinstance(outcome, str):
                        entry["note"] = outcome
                    else:
                        entry.update(median_ms=statistics.median(outcome), times_ms=outcome)
                    if extra:
                        entry.update(extra)
                    case["engines"][name] = entry
                    log(f"{arch} {size} {name}: " + (entry.get("note") or f"{entry['median_ms']:.1f} ms"))

                if "ort-fp32" in engines:
                    record("ORT fp32", "fp32", time_ort(fp32_onnx, x, a.threads, a.runs, a.warmup))
                if "ort-int8" in engines:
                    record("ORT int8", "int8", time_ort(int8_onnx, x, a.threads, a.runs, a.warmup))
                if "openvino-int8" in engines:
                    if ov_version:
                        try:
                            record("OpenVINO int8", "int8", time_openvino(int8_onnx, x, a.threads, a.runs, a.warmup))
                        except Exception as e:
                            record("OpenVINO int8", "int8", f"failed: {str(e).splitlines()[0][:200]}")
                    else:
                        record("OpenVINO int8", "int8", "not installed")
                if "torch-fp32" in engines:
                    record("PyTorch eager fp32", "fp32", time_torch(model_path, height, width, a.threads, a.runs, a.warmup))
                for precision in ("fp32", "int8"):
                    if f"segstream-{precision}" not in engines:
                        continue
                    if precision == "int8" and int8_note:
                        record("segstream int8", "int8", int8_note)
                        continue
                    path = model_path if precision == "fp32" else int8_model
                    prof = segstream_profile(binary, path, precision, height, width, a.threads, a.runs, a.warmup, frame,
                                             a.layer_runs)
                    if isinstance(prof, str):
                        record(f"segstream {precision}", precision, prof)
                    else:
                        record(f"segstream {precision}", precision, prof["times_ms"],
                               {"profile": prof, "segstream_gmac": prof["gmac"]})
                        if abs(prof["gmac"] - case["gmac"]) > 1e-9 * max(1.0, case["gmac"]):
                            log(f"warning: segstream counts {prof['gmac']:.4f} GMAC, PyTorch {case['gmac']:.4f}")
                results.append(case)
    finally:
        if not a.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    load_after = os.getloadavg()
    peaks = measured_peaks(results)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    header = [
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, {cpu}, {os.cpu_count()} cores, int8 ISA {isa}; "
        f"{a.threads} threads everywhere; median of {a.runs} runs after {a.warmup} warm-up",
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (a busy machine inflates every row)",
        f"segstream {commit}{' (modified)' if dirty else ''}, onnxruntime {onnxruntime.__version__}, torch "
        f"{torch.__version__.split('+')[0]}"
        + (f", openvino {ov_version}" if ov_version
           else ", openvino not run" if "openvino-int8" not in engines else ", openvino not installed"),
        "models: " + ", ".join(f"{c['arch']} {os.path.basename(c['model']) if c['arch'] in models else 'random weights'}"
                               for c in {c['arch']: c for c in results}.values()),
        f"int8 calibration: {len(calib_files)} images from {a.calib} (ORT: {a.calib_method}, QDQ, per-channel, "
        "u8 activations, s8 weights)",
        "GMAC: conv multiply-accumulates of the network at that size; GMAC/s and % of peak use it for every engine "
        f"(peak for {a.threads} threads, measured by segstream profile: fp32 {fmt(peaks.get('fp32'), '.0f', 'n/a')}, "
        f"int8 {fmt(peaks.get('int8'), '.0f', 'n/a')} GMAC/s)",
        "speed vs ORT int8: ORT int8's median time / the row's (above 1: faster); every engine ends in the full-size "
        "upsample and argmax",
    ]
    rows = build_rows(results, peaks)
    text = markdown(rows, results, header)
    os.makedirs(os.path.dirname(os.path.abspath(a.markdown)), exist_ok=True)
    with open(a.markdown, "w") as f:
        f.write(text)
    json_path = a.json_out or os.path.splitext(a.markdown)[0] + ".json"
    with open(json_path, "w") as f:
        json.dump({"header": header, "rows": rows, "cases": results}, f, indent=1)
    print(text)
    log(f"wrote {a.markdown} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
