"""tests/suite.py's own checks: what it reads of cargo, and the budgets it enforces.
Run by the suite itself (its first stage), with Python's standard library only."""

import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402

BUDGETS = """
default 20 check  the quick ones
pkg-a/slow 100 apart  the slow one
pkg-b/moto 30 test  needs moto
"""

LOG = """\
     Running unittests src/lib.rs (target/debug/deps/pkg_a-0123abcd)
test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.50s
     Running tests/slow.rs (target/debug/deps/slow-89abcdef)
test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 120.25s
     Running tests/moto.rs (target/debug/deps/moto-deadbeef)
thread 'main' panicked: the process died before its result line
"""


def artifact(package, kind, name, exe):
    return json.dumps(
        {
            "reason": "compiler-artifact",
            "package_id": f"path+file:///w/{package}#{package}@0.1.0",
            "target": {"kind": [kind], "name": name},
            "profile": {"test": True},
            "executable": f"/w/target/debug/deps/{exe}",
        }
    )


BUILD = "\n".join(
    [
        artifact("pkg-a", "lib", "pkg_a", "pkg_a-0123abcd"),
        artifact("pkg-a", "test", "slow", "slow-89abcdef"),
        artifact("pkg-b", "test", "moto", "moto-deadbeef"),
        '{"reason":"build-finished","success":true}',
    ]
)


def metadata(targets):
    return {
        "packages": [
            {"name": p, "targets": [{"kind": [k], "name": n, "test": t, "src_path": "/x"} for k, n, t in ts]}
            for p, ts in targets.items()
        ]
    }


class Reading(unittest.TestCase):
    def rows(self):
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            f.write(LOG)
        return suite.results(f.name, suite.executables(BUILD))

    def test_each_executable_is_named_and_timed_and_a_crash_is_a_failure(self):
        self.assertEqual(
            self.rows(),
            [("pkg-a/lib", 12, 0, 0.5), ("pkg-a/slow", 1, 2, 120.25), ("pkg-b/moto", 0, 1, 0.0)],
        )

    def test_results_that_cannot_be_read_fail_the_run(self):
        self.assertEqual(suite.unread(self.rows(), True), [])
        self.assertIn("no test results", suite.unread([], True)[0])
        self.assertIn("budget is unknown", suite.unread([("moto-deadbeef", 1, 0, 1.0)], True)[0])


class Budgets(unittest.TestCase):
    def budgets(self):
        return suite.Budgets(Path("budgets.txt"), BUDGETS)

    def test_a_target_over_its_budget_is_named(self):
        rows = [("pkg-a/lib", 1, 0, 20.5), ("pkg-a/slow", 1, 0, 99.0), ("pkg-c/new", 1, 0, 19.0)]
        self.assertEqual(self.budgets().over(rows), [("pkg-a/lib", 20.5, 20.0)])

    def test_budgets_and_cargo_tomls_must_agree(self):
        agreeing = metadata({"pkg-a": [("test", "slow", False), ("lib", "pkg_a", True)], "pkg-b": [("test", "moto", False)]})
        self.assertEqual(self.budgets().disagreements(agreeing), [])
        never_runs = metadata({"pkg-a": [("test", "slow", False), ("test", "hidden", False)], "pkg-b": [("test", "moto", False)]})
        self.assertIn("pkg-a/hidden has `test = false`", self.budgets().disagreements(never_runs)[0])
        runs_twice = metadata({"pkg-a": [("test", "slow", True)], "pkg-b": [("test", "moto", False)]})
        self.assertIn("give it `test = false`", self.budgets().disagreements(runs_twice)[0])


if __name__ == "__main__":
    unittest.main()
