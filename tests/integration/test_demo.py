"""The README's demo (scripts/demo.sh) keeps working: lock, fetch, verify, export and the
runtime verifier's inference on a tiny model served by the test hub."""
import os
import subprocess
import unittest

ROOT = os.environ.get("MODELBAKE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


class DemoTest(unittest.TestCase):
    def test_demo_script_runs_end_to_end(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh")], env=env,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("wrote modelbake.lock", p.stdout)
        self.assertIn("ready: 1 model(s)", p.stdout)
        self.assertIn("HF_HUB_OFFLINE=1", p.stdout)
        self.assertIn("1 of 1 models ready", p.stdout)
        self.assertIn("inference: ok", p.stdout)


if __name__ == "__main__":
    unittest.main()
