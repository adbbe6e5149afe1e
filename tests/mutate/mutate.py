#!/usr/bin/env python3
"""mutate.py - mutation testing for deepc: does the suite catch one-line bugs?

Each mutant in tests/mutate/mutants.ini is one textual change to one source file: `find` (an
exact text that must occur exactly once in the file) becomes `replace`. For each mutant, in a
scratch copy of the working tree that keeps one build folder:

  0. build the unmodified copy and run every mutant's tests on it (they must pass);
  1. apply the change, build (only the changed object recompiles, then the links);
  2. run the mutant's `tests` (test name or test file patterns, the tests nearest the code)
     with DEEPC_TEST_FAILFAST=1: a failure kills the mutant;
  3. a survivor of its own tests runs the whole suite and `deepc gradcheck`: a failure there
     kills it too (reported, so that its `tests` line can name the test that did; at the end
     that test is run on the unmodified tree, and a kill by a test that fails there anyway
     gives no verdict);
  4. restore the file and its object file (so nothing else recompiles).

A mutant marked `equivalent = <reason>` cannot change any observable result; it is listed with
its reason and left out of the score (--all runs it anyway, to check the claim).

The score is killed / (mutants - equivalent). Exit status: 0 when the score reaches --min-score
(90 by default), 1 below it, 2 on a usage error or a stale mutant (a `find` text that no longer
occurs exactly once: the code changed under the mutant; update or delete it).

Usage (from the repository root; `make mutate` runs it with no options):
  python3 tests/mutate/mutate.py [--only ID,ID|PREFIX*] [--tests "PATTERN ..."] [--list]
                                 [--check] [--all] [--keep-going] [--keep] [--min-score N]
Only the Python 3 standard library is used.
"""

import argparse
import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MUTANTS = os.path.join(ROOT, "tests", "mutate", "mutants.ini")
NEAR_TIMEOUT = 300   # seconds for a mutant's own tests
FULL_TIMEOUT = 1200  # the whole suite (about 2 minutes on an idle machine)
TARGETS = ["build/deepc", "build/test_runner"]


class Mutant:
    def __init__(self, mid, sec):
        self.id = mid
        self.file = sec.get("file", "").strip()
        self.find = sec.get("find", "")
        self.replace = sec.get("replace", "")
        self.tests = sec.get("tests", "").split()
        self.equivalent = sec.get("equivalent", "").strip()
        self.why = sec.get("why", "").strip()
        self.result = None   # KILLED / SURVIVED / EQUIVALENT / BUILD-FAILED / STALE
        self.detail = ""
        self.seconds = 0.0


def load_mutants(path):
    cp = configparser.ConfigParser(interpolation=None, delimiters=("=",),
                                   comment_prefixes=("#",), inline_comment_prefixes=None,
                                   strict=True, empty_lines_in_values=False)
    cp.optionxform = str
    with open(path, encoding="utf-8") as f:
        cp.read_file(f)
    out = []
    for mid in cp.sections():
        m = Mutant(mid, cp[mid])
        missing = [k for k in ("file", "find", "replace", "tests") if not cp[mid].get(k)]
        if missing:
            sys.exit("mutants.ini [%s]: missing %s" % (mid, ", ".join(missing)))
        if m.find == m.replace:
            sys.exit("mutants.ini [%s]: find and replace are the same" % mid)
        out.append(m)
    return out


def stale_reason(m, root):
    """None when m applies to the tree at root, else why not."""
    p = os.path.join(root, m.file)
    if not os.path.isfile(p):
        return "file %s does not exist" % m.file
    with open(p, encoding="utf-8") as f:
        n = f.read().count(m.find)
    if n != 1:
        return "'%s' occurs %d times in %s (must be exactly once)" % (m.find, n, m.file)
    return None


def tree_files(root):
    """Tracked and untracked-but-not-ignored files, as git sees them (the working tree)."""
    r = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                       capture_output=True, check=True)
    return [p for p in r.stdout.decode().split("\0") if p]


def make_scratch(root, scratch):
    for rel in tree_files(root):
        src = os.path.join(root, rel)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        dst = os.path.join(scratch, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)  # keeps mtimes, so a copied build stays up to date
    for rel in ("build/obj", "build/.flags"):  # reuse this tree's objects when there are any
        src = os.path.join(root, rel)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(scratch, rel), symlinks=True, dirs_exist_ok=True)
        elif os.path.isfile(src):
            shutil.copy2(src, os.path.join(scratch, rel))


def build(scratch, log):
    r = subprocess.run(["make", "-j2"] + TARGETS, cwd=scratch, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    log.write(r.stdout.decode(errors="replace"))
    return r.returncode == 0, r.stdout.decode(errors="replace")


def run_tests(scratch, patterns, timeout, log):
    """(passed, first failed test or reason)."""
    env = dict(os.environ, DEEPC_BIN="build/deepc", DEEPC_TEST_FAILFAST="1")
    try:
        r = subprocess.run(["build/test_runner"] + patterns, cwd=scratch, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "timed out after %d s" % timeout
    out = r.stdout.decode(errors="replace")
    log.write(out)
    if r.returncode == 0:
        ran = [l for l in out.splitlines() if l.startswith("ok ")]
        if patterns and not ran:
            return False, "no test matches %s (fix the tests line)" % " ".join(patterns)
        return True, ""
    fails = [l.split()[1] for l in out.splitlines() if l.startswith("FAIL ")]
    if fails:
        return False, fails[0]
    return False, "test_runner exited %d (crash?)" % r.returncode


def run_gradcheck(scratch, log):
    try:
        r = subprocess.run(["build/deepc", "gradcheck"], cwd=scratch, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=FULL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, "gradcheck timed out"
    log.write(r.stdout.decode(errors="replace"))
    return r.returncode == 0, "" if r.returncode == 0 else "deepc gradcheck failed"


def object_of(rel):
    return os.path.join("build", "obj", rel[:-2] + ".o") if rel.endswith(".c") else None


def try_mutant(m, scratch, log, state):
    path = os.path.join(scratch, m.file)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    st = os.stat(path)
    obj = object_of(m.file)
    obj_path = os.path.join(scratch, obj) if obj else None
    saved_obj = None
    if obj_path and os.path.isfile(obj_path):
        with open(obj_path, "rb") as f:
            saved_obj = f.read()
    log.write("\n==== %s: %s\n- %s\n+ %s\n" % (m.id, m.file, m.find, m.replace))
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(m.find, m.replace, 1))
        ok, out = build(scratch, log)
        if not ok:
            err = [l for l in out.splitlines() if "error:" in l]
            return "BUILD-FAILED", (err[0] if err else "make failed")[:160]
        passed, why = run_tests(scratch, m.tests, NEAR_TIMEOUT, log)
        if not passed:
            return "KILLED", why
        passed, why = run_tests(scratch, [], FULL_TIMEOUT, log)
        culprit = why
        if passed:
            passed, why = run_gradcheck(scratch, log)
            culprit = "gradcheck"
        if not passed:
            state["full_kills"].append((m, culprit))
            return "KILLED", "only by the full suite: %s (add it to tests)" % why
        return "SURVIVED", "its tests, the full suite and gradcheck pass"
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        if saved_obj is not None:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as before: no recompile
            with open(obj_path, "wb") as f:  # newer than the archive: it is re-linked
                f.write(saved_obj)


def recheck_full_kills(kills, scratch, log):
    """A kill by a test outside the mutant's own list counts only if that test passes on the
    unmodified tree (the sources are restored by now): otherwise the suite was failing anyway."""
    if not kills:
        return
    ok, _ = build(scratch, log)
    for m, culprit in kills:
        if culprit == "gradcheck":
            passed, _ = run_gradcheck(scratch, log)
        elif culprit.startswith("timed out") or culprit.startswith("test_runner exited"):
            passed = True  # a hang or a crash does not happen on the unmodified tree
        else:
            passed, _ = run_tests(scratch, [culprit], NEAR_TIMEOUT, log)
        if not ok or not passed:
            m.result = "BASELINE-FAILS"
            m.detail = "%s fails on the unmodified tree too: no verdict" % culprit
            print("mutate: %s: %s" % (m.id, m.detail))


def select(mutants, only):
    if not only:
        return mutants
    keys = [k.strip() for k in only.split(",") if k.strip()]
    def chosen(m):
        return any(m.id == k or (k.endswith("*") and m.id.startswith(k[:-1])) for k in keys)
    out = [m for m in mutants if chosen(m)]
    if not out:
        sys.exit("--only %s matches no mutant" % only)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated mutant ids (a trailing * matches a prefix)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--check", action="store_true",
                    help="only check that every mutant applies to the tree (no build)")
    ap.add_argument("--all", action="store_true", help="also run the mutants marked equivalent")
    ap.add_argument("--keep-going", action="store_true",
                    help="run the applicable mutants even if some are stale")
    ap.add_argument("--keep", action="store_true", help="keep the scratch tree")
    ap.add_argument("--tests", help="run these test patterns (space-separated) instead of each "
                    "mutant's own, e.g. to show that one new test kills a mutant")
    ap.add_argument("--min-score", type=float, default=90.0)
    a = ap.parse_args()

    mutants = select(load_mutants(MUTANTS), a.only)
    if a.tests:
        for m in mutants:
            m.tests = a.tests.split()
    if a.list:
        for m in mutants:
            eq = "  [equivalent]" if m.equivalent else ""
            print("%-28s %-28s %s%s" % (m.id, m.file, " ".join(m.tests), eq))
        return 0
    stale = []
    for m in mutants:
        why = stale_reason(m, ROOT)
        if why:
            m.result, m.detail = "STALE", why
            stale.append(m)
    for m in stale:
        print("STALE %s: %s" % (m.id, m.detail))
    if stale and not a.keep_going:
        print("mutate: %d stale mutant(s) in %s: the code changed under them; update their "
              "find/replace lines (or run with --keep-going)" % (len(stale), MUTANTS))
        return 2
    if a.check:
        print("mutate: %d mutants apply" % (len(mutants) - len(stale)))
        return 2 if stale else 0

    scratch = tempfile.mkdtemp(prefix="deepc-mutate-")
    log_path = os.path.join(scratch, "mutate.log")
    print("mutate: scratch tree %s (log: %s)" % (scratch, log_path))
    t_start = time.time()
    state = {"full_kills": []}
    try:
        make_scratch(ROOT, scratch)
        with open(log_path, "w", encoding="utf-8") as log:
            ok, out = build(scratch, log)
            if not ok:
                print(out[-3000:])
                print("mutate: the unmodified tree does not build")
                return 2
            todo = [m for m in mutants if not m.result]
            patterns = sorted({p for m in todo for p in m.tests})
            passed, why = run_tests(scratch, patterns, FULL_TIMEOUT, log)
            if not passed:
                print("mutate: the mutants' tests fail on the unmodified tree (%s)" % why)
                return 2
            print("mutate: baseline builds and the %d test patterns pass (%.0f s)"
                  % (len(patterns), time.time() - t_start))
            for k, m in enumerate(mutants, 1):
                if m.result:
                    continue
                if m.equivalent and not a.all:
                    m.result, m.detail = "EQUIVALENT", m.equivalent
                else:
                    t0 = time.time()
                    m.result, m.detail = try_mutant(m, scratch, log, state)
                    m.seconds = time.time() - t0
                    if m.equivalent and m.result == "KILLED":
                        m.detail += " (but marked equivalent: the reason is wrong)"
                    elif m.equivalent and m.result == "SURVIVED":
                        m.result = "EQUIVALENT"
                        m.detail = m.equivalent
                print("[%2d/%d] %-12s %-28s %6.1f s  %s" % (k, len(mutants), m.result, m.id,
                                                           m.seconds, m.detail), flush=True)
                log.flush()
            recheck_full_kills(state["full_kills"], scratch, log)
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print("mutate: kept %s" % scratch)
    return report(mutants, a.min_score, time.time() - t_start)


def report(mutants, min_score, seconds):
    def of(kind):
        return [m for m in mutants if m.result == kind]
    killed, surv, equiv = of("KILLED"), of("SURVIVED"), of("EQUIVALENT")
    bf, stale, basef = of("BUILD-FAILED"), of("STALE"), of("BASELINE-FAILS")
    scored = len(mutants) - len(equiv) - len(stale) - len(basef)
    score = 100.0 * len(killed) / scored if scored else 100.0  # nothing to score: no failure
    print()
    print("mutate: %d mutants: %d killed, %d survived, %d equivalent, %d did not build, %d stale"
          % (len(mutants), len(killed), len(surv), len(equiv), len(bf), len(stale)))
    print("mutate: score %.1f%% (%d of %d non-equivalent mutants killed) in %.0f min"
          % (score, len(killed), scored, seconds / 60))
    for m in surv:
        print("  SURVIVED %s (%s): %s -> %s" % (m.id, m.file, m.find.strip(), m.replace.strip()))
    for m in bf:
        print("  DID NOT BUILD %s: %s" % (m.id, m.detail))
    for m in equiv:
        print("  equivalent %s: %s" % (m.id, m.equivalent))
    for m in stale:
        print("  STALE %s: %s" % (m.id, m.detail))
    for m in basef:
        print("  NO VERDICT %s: %s" % (m.id, m.detail))
    return 0 if score >= min_score and not stale and not basef else 1


if __name__ == "__main__":
    sys.exit(main())
