"""Tests for tools/torchvision_to_safetensors.py: torchvision ShuffleNetV2 checkpoints in, unchanged names and the right
declaration out; anything else a one-line error.

Run: /usr/bin/python3 tools/test_torchvision_to_safetensors.py   (or: /usr/bin/python3 -m unittest discover -s tools -p 'test_*.py')
The C# suite runs it too (TorchvisionConvertScriptTests) when /usr/bin/python3 can import torch, and reports it
skipped otherwise. Each case prints "case NAME: ok" to stderr, which the C# test looks for.
"""

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import torchvision_to_safetensors as conv  # noqa: E402
import torchvision_v2 as tv2  # noqa: E402
from shufflenet import ShuffleNetV1  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision_to_safetensors.py")


def run(argv):
    """main() in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = conv.main(argv)
    return code, out.getvalue(), err.getvalue()


def done(name):
    print(f"case {name}: ok", file=sys.stderr)


class ConvertTest(unittest.TestCase):
    def setUp(self):
        torch.set_num_threads(1)
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def convert_ok(self, obj, *args):
        src = self.path("in.pth")
        torch.save(obj, src)
        code, out, err = run([src, "--out", self.path("out.safetensors"), *args])
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")
        lines = out.strip().splitlines()
        return safetensors_io.load(self.path("out.safetensors")), lines[-1]

    def assert_same_state(self, written, state_dict):
        self.assertEqual(list(written), list(state_dict), "names or order changed")
        for k, v in state_dict.items():
            expected = v.numpy()
            self.assertEqual(written[k].dtype, expected.dtype, k)
            self.assertTrue(np.array_equal(written[k], expected), k)

    def test_torchvision_scales(self):
        # Each torchvision factory's own state_dict (random init: nothing is downloaded), saved as torch.save writes it.
        for scale, factory in ((0.5, torchvision.models.shufflenet_v2_x0_5), (1.0, torchvision.models.shufflenet_v2_x1_0),
                               (1.5, torchvision.models.shufflenet_v2_x1_5), (2.0, torchvision.models.shufflenet_v2_x2_0)):
            sd = factory().state_dict()
            written, decl = self.convert_ok(sd)
            self.assert_same_state(written, sd)
            self.assertEqual(sum(1 for v in written.values() if v.dtype == np.int64), 56)  # every BatchNorm's counter
            self.assertEqual(decl, f"[ShuffleNetV2(Scale = {scale:.1f}, Classes = 1000, InputHeight = 224, InputWidth = 224)] public partial class MyNet;")
        done("torchvision scales")

    def test_pickled_model_in_a_wrapper_with_module_prefix(self):
        model = torchvision.models.shufflenet_v2_x0_5(num_classes=10)
        _, decl = self.convert_ok(model, "--height", "96", "--width", "64", "--class-name", "Tiny")
        self.assertEqual(decl, "[ShuffleNetV2(Scale = 0.5, Classes = 10, InputHeight = 96, InputWidth = 64)] public partial class Tiny;")
        wrapped = {"epoch": 3, "state_dict": {"module." + k: v for k, v in model.state_dict().items()}}
        written, decl2 = self.convert_ok(wrapped, "--height", "96", "--width", "64", "--class-name", "Tiny")
        self.assertEqual(decl2, decl)
        self.assert_same_state(written, model.state_dict())
        done("pickled model and wrapper")

    def test_custom_architectures(self):
        cases = [
            # (config, expected declaration body)
            (dict(stem_channels=16, stage_channels=[32, 64, 128], stage_repeats=[2, 3, 2], final_channels=256, input_channels=3, classes=10),
             "StemChannels = 16, StageChannels = new[] { 32, 64, 128 }, FinalChannels = 256, Stages = new[] { 2, 3, 2 }, Classes = 10"),
            (dict(stem_channels=24, stage_channels=[48, 96, 192], stage_repeats=[1, 1, 1], final_channels=1024, input_channels=3, classes=7),
             "Scale = 0.5, Stages = new[] { 1, 1, 1 }, Classes = 7"),
            (dict(stem_channels=24, stage_channels=[48, 96, 200], stage_repeats=[4, 8, 4], final_channels=1024, input_channels=3, classes=7),
             "StemChannels = 24, StageChannels = new[] { 48, 96, 200 }, FinalChannels = 1024, Classes = 7"),
            (dict(stem_channels=8, stage_channels=[24, 48], stage_repeats=[2, 2], final_channels=64, input_channels=1, classes=5),
             "StemChannels = 8, StageChannels = new[] { 24, 48 }, FinalChannels = 64, Stages = new[] { 2, 2 }, InputChannels = 1, Classes = 5"),
            (dict(stem_channels=12, stage_channels=[16, 32, 48, 64], stage_repeats=[1, 2, 2, 1], final_channels=96, input_channels=3, classes=6),
             "StemChannels = 12, StageChannels = new[] { 16, 32, 48, 64 }, FinalChannels = 96, Stages = new[] { 1, 2, 2, 1 }, Classes = 6"),
            (dict(stem_channels=10, stage_channels=[16], stage_repeats=[3], final_channels=32, input_channels=3, classes=4),
             "StemChannels = 10, StageChannels = new[] { 16 }, FinalChannels = 32, Stages = new[] { 3 }, Classes = 4"),
        ]
        for config, body in cases:
            config = dict(config, input_height=64, input_width=48)
            model = tv2.build(config)
            sd = model.state_dict()
            written, decl = self.convert_ok(sd, "--height", "64", "--width", "48")
            self.assert_same_state(written, sd)
            self.assertEqual(decl, f"[ShuffleNetV2({body}, InputHeight = 64, InputWidth = 48)] public partial class MyNet;")
        done("custom architectures")

    def test_without_batch_counters_and_in_float64(self):
        model = tv2.build(tv2.scale_config(0.5, classes=3, stage_repeats=[1, 2, 1]))
        sd = {k: (v.double() if v.is_floating_point() else v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        written, decl = self.convert_ok(sd)
        self.assertEqual(list(written), list(sd))
        self.assertTrue(all(v.dtype == np.float32 for v in written.values()))
        self.assertTrue(decl.startswith("[ShuffleNetV2(Scale = 0.5, Stages = new[] { 1, 2, 1 }, Classes = 3,"), decl)
        done("no batch counters, float64")

    def assert_one_line_error(self, obj_or_bytes, contains):
        src = self.path("bad.pth")
        if isinstance(obj_or_bytes, bytes):
            with open(src, "wb") as f:
                f.write(obj_or_bytes)
        else:
            torch.save(obj_or_bytes, src)
        code, out, err = run([src, "--out", self.path("bad.safetensors")])
        self.assertEqual(code, 2)
        self.assertEqual(out, "")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("error: "), err)
        self.assertIn(contains, err)
        self.assertNotIn("Traceback", err)

    def test_not_a_shufflenet_v2(self):
        v1 = ShuffleNetV1.from_config({"groups": 3, "stem_channels": 12, "stage_channels": [60, 120, 240], "stage_repeats": [2, 3, 2],
                                       "input_channels": 3, "input_height": 64, "input_width": 64, "classes": 10,
                                       "stem_stride": 2, "stem_max_pool": True})
        self.assert_one_line_error(v1.state_dict(), "not a torchvision ShuffleNetV2 state_dict: no 'conv1.0.weight'")
        self.assert_one_line_error(torchvision.models.mobilenet_v2().state_dict(), "not a torchvision ShuffleNetV2 state_dict")
        self.assert_one_line_error(b"not a checkpoint at all\n", "not a PyTorch checkpoint")
        self.assert_one_line_error([1, 2, 3], "not a state_dict")
        sd = torchvision.models.shufflenet_v2_x0_5(num_classes=4).state_dict()
        bad = dict(sd)
        bad["fc.weight"] = bad["fc.weight"].t().contiguous()
        self.assert_one_line_error(bad, "'fc.weight' has shape [1024, 4], expected [4, 1024]")
        bad = dict(sd)
        bad["stage3.0.branch2.0.weight"] = torch.zeros(48, 40, 1, 1)
        self.assert_one_line_error(bad, "'stage3.0.branch2.0.weight' has shape [48, 40, 1, 1], expected [48, 48, 1, 1]")
        bad = dict(sd)
        del bad["stage4.2.branch2.5.weight"]
        self.assert_one_line_error(bad, "'stage4.2.branch2.5.weight' is missing")
        bad = dict(sd, **{"stage2.0.extra": torch.zeros(1)})
        self.assert_one_line_error(bad, "unexpected tensor 'stage2.0.extra'")
        done("not a ShuffleNetV2")

    def test_real_process_prints_one_line(self):
        src = self.path("junk.pth")
        with open(src, "wb") as f:
            f.write(os.urandom(256))
        p = subprocess.run([sys.executable, SCRIPT, src], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertTrue(p.stderr.startswith("error: "), p.stderr)
        self.assertFalse(os.path.exists(self.path("junk.safetensors")))
        done("process exit")


if __name__ == "__main__":
    unittest.main()
