"""Tests for tools/quantize.py's handling of hostile calibration images.

Run: /usr/bin/python3 tools/test_quantize.py   (or: /usr/bin/python3 -m unittest discover -s tools -p 'test_*.py')
The C# suite runs it too (QuantizeScriptTests) when /usr/bin/python3 can import torch, and reports it skipped
otherwise.

A finite pixel of 1e38 made the default HistogramObserver die inside torch.histc with a traceback
("RuntimeError: Overflow when unpacking long"), while --observer minmax gave quantize.py's one-line error. Both must
end in the one-line error. main() runs in this process (importing torch once for both observers keeps it fast).
"""

import contextlib
import io
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quantize  # noqa: E402
import safetensors_io  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ShuffleNetGen.Tests", "Fixtures", "pytorch")


class HostileImages(unittest.TestCase):
    def run_main(self, *args):
        """quantize.main() with `args`: (the SystemExit code or None, captured stderr)."""
        argv, stderr = sys.argv, io.StringIO()
        sys.argv = ["quantize.py", *args]
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                quantize.main()
            return None, stderr.getvalue()
        except SystemExit as e:
            return e.code, stderr.getvalue()
        finally:
            sys.argv = argv

    def test_finite_huge_pixel_gives_a_one_line_error_with_either_observer(self):
        rng = np.random.default_rng(1)
        images = rng.uniform(-1, 1, (8, 1, 48, 40)).astype(np.float32)
        images[3, 0, 5, 7] = np.float32(1e38)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "images.safetensors")
            safetensors_io.save({"input": images}, path)
            for observer in ("histogram", "minmax"):
                with self.subTest(observer=observer):
                    code, stderr = self.run_main(
                        "--config", os.path.join(FIXTURES, "g8_gray_48x40.json"),
                        "--weights", os.path.join(FIXTURES, "g8_gray_48x40.safetensors"),
                        "--out", os.path.join(folder, "out.safetensors"),
                        "--images", path, "--observer", observer)
                    # SystemExit(str) is how quantize.py reports: the message is the code, printed as one line.
                    self.assertIsInstance(code, str, f"{observer}: exit code {code!r}, stderr {stderr!r}")
                    self.assertTrue(code.startswith("quantize.py: "), code)
                    self.assertNotIn("\n", code)
                    self.assertNotIn("Traceback", stderr)
                    self.assertFalse(os.path.exists(os.path.join(folder, "out.safetensors")))
                    print(f"{observer}: {code}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
