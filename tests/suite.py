#!/usr/bin/env python3
"""The test suite behind `make test` and `make check`, stage by stage, with each stage's time.

    make test    installs, templates, fmt, clippy, one build of every target, every test
    make check   fmt, clippy and the tests that need nothing installed (the inner loop)

Every test target has a time budget (tests/budgets.txt); a target over its budget fails
the run, so a slow addition is seen in the change that made it, and so does a run whose
results it cannot read. Each run ends with the stage times, the slowest targets, and one
line: `N passed, N failed`. Its own reading is tested first (tests/test_suite.py).

Python's standard library only: it runs before anything is installed.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = ROOT / "tests" / "budgets.txt"
CARGO = os.environ.get("CARGO", "cargo")
MAKE = os.environ.get("MAKE", "make")
WORK = ROOT / ".work"

# How a test target is named in budgets.txt and in the report: `package/lib` for a
# library's unit tests, `package/bin/NAME` for a binary's, `package/NAME` for tests/NAME.rs.


def target_name(package, target):
    kinds = target["kind"]
    if "lib" in kinds or "rlib" in kinds or "proc-macro" in kinds:
        return f"{package}/lib"
    if "bin" in kinds:
        return f"{package}/bin/{target['name']}"
    return f"{package}/{target['name']}"


class Budgets:
    """tests/budgets.txt: `TARGET SECONDS WHERE [why]` lines and a `default` line."""

    def __init__(self, path, text=None):
        self.seconds = {}
        # Targets `make check` leaves to `make test`: they need what only it installs.
        self.full_only = set()
        # Targets `make test` runs in their own cargo process, beside the others.
        self.apart = set()
        self.default = None
        text = path.read_text() if text is None else text
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split(None, 3)
            if len(fields) < 3 or fields[2] not in ("check", "test", "apart"):
                sys.exit(f"{path}:{number}: expected `TARGET SECONDS check|test|apart [why]`, got {line!r}")
            name, seconds, where = fields[0], float(fields[1]), fields[2]
            if name == "default":
                self.default = seconds
                continue
            self.seconds[name] = seconds
            if where in ("test", "apart"):
                self.full_only.add(name)
            if where == "apart":
                self.apart.add(name)
        if self.default is None:
            sys.exit(f"{path}: no `default` line")

    def disagreements(self, meta):
        """Integration targets whose `test = false` does not match their line here."""
        problems = []
        for package in meta["packages"]:
            for target in package["targets"]:
                if "test" not in target["kind"]:
                    continue
                name = f"{package['name']}/{target['name']}"
                off = not target.get("test", True)
                if off and name not in self.full_only:
                    problems.append(f"{name} has `test = false` but no `test` or `apart` line here: it would never run")
                if not off and name in self.full_only:
                    problems.append(f"{name} is `{'apart' if name in self.apart else 'test'}` here: give it `test = false` in its Cargo.toml")
        listed = {target_name(p["name"], t) for p in meta["packages"] for t in p["targets"]}
        for name in sorted(set(self.seconds) - listed):
            problems.append(f"{name} is listed here but is no test target")
        return problems

    @staticmethod
    def names(targets):
        """The file names of integration test targets (`package/NAME` → `NAME`)."""
        return {target.rsplit("/", 1)[-1] for target in targets}

    def of(self, name):
        return self.seconds.get(name, self.default)

    def over(self, rows):
        """(target, seconds, budget) of every result row over its budget."""
        return [(name, seconds, self.of(name)) for name, _, _, seconds in rows if seconds > self.of(name)]


def unread(rows, tests_ok):
    """Why the results cannot be trusted: none were read from a run that passed, or an
    executable could not be named (so no budget applies to it)."""
    problems = []
    if tests_ok and not rows:
        problems.append("no test results could be read from cargo's output: tests/suite.py no longer understands it")
    problems += [f"{name} is no test target cargo built: its budget is unknown" for name, *_ in rows if "/" not in name]
    return problems


class Suite:
    def __init__(self, mode):
        self.mode = mode
        self.stages = []  # (name, seconds, ok)
        self.started = time.monotonic()

    def stage(self, name, command, env=None):
        print(f"\n== {name}: {' '.join(command)}", flush=True)
        start = time.monotonic()
        ok = subprocess.run(command, cwd=ROOT, env=env).returncode == 0
        self.stages.append((name, time.monotonic() - start, ok))
        return ok

    def report_stages(self):
        print("\n== stage times")
        for name, seconds, ok in self.stages:
            print(f"   {name:<28} {clock(seconds):>8}{'' if ok else '  FAILED'}")
        print(f"   {'total':<28} {clock(time.monotonic() - self.started):>8}")


def clock(seconds):
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class LaneRunner:
    """Runs one lane's `cargo test` commands one after the other, in a thread of its own;
    the first lane's output is shown as it comes, every lane's is written to a log."""

    def __init__(self, lane, env, number):
        self.number = number
        self.done = []
        self.thread = threading.Thread(target=self.run, args=(lane, env))
        self.thread.start()

    def run(self, lane, env):
        for step, (name, selection) in enumerate(lane):
            command = [CARGO, "test", "--workspace", "--locked", "--no-fail-fast", *selection]
            log = WORK / f"test-{self.number}-{step}.log"
            where = "" if self.number == 0 else f" (output in {log.relative_to(ROOT)})"
            print(f"\n== {name}: {' '.join(command)}{where}", flush=True)
            start = time.monotonic()
            with open(log, "w") as out:
                process = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                    errors="replace",
                )
                for line in process.stdout:
                    if self.number == 0:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    out.write(line)
                ok = process.wait() == 0
            self.done.append((name, time.monotonic() - start, ok, log))

    def wait(self):
        self.thread.join()
        return self.done


def metadata():
    out = subprocess.run(
        [CARGO, "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def unit_tests_left_out(meta):
    """Targets marked `test = false` whose sources hold a test: it would never run."""
    found = []
    for package in meta["packages"]:
        for target in package["targets"]:
            if target.get("test", True) or not {"lib", "bin"} & set(target["kind"]):
                continue
            src = Path(target["src_path"]).parent
            for path in src.rglob("*.rs"):
                text = path.read_text(errors="replace")
                if "#[test]" in text or "proptest!" in text or "#[tokio::test" in text:
                    found.append(f"{path.relative_to(ROOT)} (the {target['name']} target has `test = false`)")
    return found


def executables(build_json):
    """Maps each test executable's file name to its target name, from cargo's JSON."""
    names = {}
    for line in build_json.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message["profile"]["test"]:
            continue
        package = message["package_id"]
        # `path+file:///…/crates/core#dockhand-core@0.1.0` or `…#0.1.0` (name from the path).
        tail = package.rsplit("#", 1)[-1]
        name = tail.split("@", 1)[0] if "@" in tail else package.rsplit("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        names[Path(message["executable"]).name] = target_name(name, message["target"])
    return names


RUNNING = re.compile(r"^\s+Running .*\((.+)\)\s*$")
RESULT = re.compile(r"^test result: (\w+)\. (\d+) passed; (\d+) failed; .* finished in ([\d.]+)s")


def results(log, names):
    """(target, passed, failed, seconds) per test executable in a `cargo test` log."""
    rows = []
    current = None
    for line in Path(log).read_text(errors="replace").splitlines():
        running = RUNNING.match(line)
        if running:
            if current is not None:  # the executable ended without a result: it crashed
                rows.append((current, 0, 1, 0.0))
            exe = Path(running.group(1)).name
            current = names.get(exe, exe)
            continue
        result = RESULT.match(line)
        if result and current is not None:
            rows.append((current, int(result.group(2)), int(result.group(3)), float(result.group(4))))
            current = None
    if current is not None:
        rows.append((current, 0, 1, 0.0))
    return rows


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "test"
    if mode not in ("test", "check"):
        sys.exit("usage: tests/suite.py test|check")
    WORK.mkdir(exist_ok=True)
    budgets = Budgets(BUDGETS)
    suite = Suite(mode)
    venv_bin = ROOT / ".venv" / "bin"
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"
    moto = venv_bin / "moto_server"
    if moto.exists():
        env["MOTO_SERVER"] = str(moto)

    def finish(code):
        suite.report_stages()
        sys.exit(code)

    if mode == "test":
        if not suite.stage("installs", [MAKE, "--no-print-directory", "deps"]):
            finish(1)
        if not suite.stage("templates", [MAKE, "--no-print-directory", "lint-templates"]):
            finish(1)
    if not suite.stage("suite self-test", [sys.executable, "-m", "unittest", "discover", "-q", "-s", "tests", "-p", "test_suite.py"]):
        finish(1)
    if not suite.stage("fmt", [CARGO, "fmt", "--all", "--check"]):
        finish(1)
    # The same target selection as the build and the tests: dev-dependencies' features
    # are on everywhere, so nothing is compiled twice.
    if not suite.stage(
        "clippy", [CARGO, "clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"], env=env
    ):
        finish(1)

    meta = metadata()
    left_out = unit_tests_left_out(meta)
    if left_out:
        print("\n== tests that would never run: remove `test = false` from their target")
        for place in left_out:
            print(f"   {place}")
        finish(1)

    # `cargo test --workspace` runs what needs nothing installed; the targets that need
    # more are `test = false` in their Cargo.toml and named here, each in its lane.
    problems = budgets.disagreements(meta)
    if problems:
        print("\n== tests/budgets.txt and the Cargo.toml files disagree")
        for problem in problems:
            print(f"   {problem}")
        finish(1)
    lanes = [[("tests", [])]]
    if mode == "test":
        named = budgets.names(budgets.full_only - budgets.apart)
        lanes[0].append(("tests needing moto", [arg for n in sorted(named) for arg in ("--test", n)]))
        # The slow ones run beside the others, each in its own cargo process: the two
        # cores are otherwise half idle while they wait on moto, podman and the registry.
        lanes += [[(f"tests {n}", ["--test", n])] for n in sorted(budgets.names(budgets.apart))]

    # One build of every test target (and so of every binary the end-to-end and deploy
    # tests run: cargo puts them in target/debug/), with the map from executables to names.
    build_log = WORK / "build.json"
    start = time.monotonic()
    command = [CARGO, "test", "--workspace", "--no-run", "--locked", "--message-format=json-render-diagnostics"]
    built = True
    with open(build_log, "w") as out:
        for selection in dict.fromkeys(tuple(sel) for lane in lanes for _, sel in lane):
            print(f"\n== build: {' '.join(command[:4])} {' '.join(selection)}", flush=True)
            built &= subprocess.run([*command, *selection], cwd=ROOT, env=env, stdout=out).returncode == 0
    suite.stages.append(("build", time.monotonic() - start, built))
    if not built:
        finish(1)
    names = executables(build_log.read_text())

    start = time.monotonic()
    threads = []
    for number, lane in enumerate(lanes):
        runner = LaneRunner(lane, env, number)
        threads.append(runner)
    rows = []
    tests_ok = True
    for runner in threads:
        for name, seconds, ok, log in runner.wait():
            if runner.number != 0:
                print(f"\n== {name} (ran beside the others)")
                sys.stdout.write(log.read_text(errors="replace"))
            suite.stages.append((name, seconds, ok))
            tests_ok &= ok
            rows += results(log, names)
    suite.stages.append(("all tests", time.monotonic() - start, tests_ok))

    passed = sum(r[1] for r in rows)
    failed = sum(r[2] for r in rows)
    over = budgets.over(rows)
    problems = unread(rows, tests_ok)
    suite.report_stages()
    print("\n== slowest test targets (budgets: tests/budgets.txt)")
    for name, _, _, seconds in sorted(rows, key=lambda r: -r[3])[:8]:
        print(f"   {name:<44} {seconds:8.1f}s  budget {budgets.of(name):.0f}s")
    for name, seconds, budget in over:
        print(
            f"   {name} took {seconds:.1f}s, over its budget of {budget:.0f}s: make it faster, or give it "
            f"a budget in tests/budgets.txt in the same change and say why"
        )
    for problem in problems:
        print(f"   {problem}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if tests_ok and failed == 0 and not over and not problems else 1)


if __name__ == "__main__":
    main()
