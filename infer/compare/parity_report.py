"""Parity results for people and for CI: a summary table, JSON, and JUnit XML."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from ganport.core.atomic import write_bytes, write_json
from ganport.infer.compare.parity import ParityReport


def summary_table(report: ParityReport) -> str:
    """One row per model: cases passed, worst errors, provider, tolerance profile."""
    rows = [("model", "cases", "max abs", "p99 abs", "max rel", "sweep", "provider", "profile")]
    for model, tol in report.tolerances.items():
        cases = [c for c in report.cases if c.model == model]
        stats = [c.comparison for c in cases if c.comparison is not None]
        sweep = next((s for s in report.sweeps if s.model == model), None)
        rows.append(
            (
                model,
                f"{sum(c.passed for c in cases)}/{len(cases)}",
                f"{max((s.max_abs for s in stats), default=float('nan')):.2e}",
                f"{max((s.p99_abs for s in stats), default=float('nan')):.2e}",
                f"{max((s.max_rel for s in stats), default=float('nan')):.2e}",
                "-" if sweep is None else ("ok" if sweep.passed else "FAIL"),
                tol["provider"],
                f"{tol['name']} (atol {tol['atol']:g}, rtol {tol['rtol']:g})",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    for model, check in report.distributions.items():
        fp32, int8 = check.reference, check.candidate
        line = (
            f"{model} vs checkpoint on {check.n} samples: FID {int8.fid:.4g} vs {fp32.fid:.4g}, "
            f"classifier score {int8.classifier_score:.3f} vs {fp32.classifier_score:.3f}, "
            f"classes {int8.classes_covered} vs {fp32.classes_covered}"
        )
        if fp32.class_as_asked is not None:
            line += f", class as asked {int8.class_as_asked:.3f} vs {fp32.class_as_asked:.3f}"
        lines.append(line + ("  ok" if check.passed else "  FAIL"))
    verdict = "PASS" if report.passed else "FAIL"
    lines.append(
        f"parity {verdict}: {sum(c.passed for c in report.cases)}/{len(report.cases)} "
        f"cases in {report.seconds:.1f}s"
    )
    return "\n".join(lines)


def write_report(report: ParityReport, path: str | os.PathLike[str]) -> None:
    write_json(path, report.to_dict())


def write_junit(report: ParityReport, path: str | os.PathLike[str]) -> None:
    """JUnit XML: one testcase per comparison and per sweep, failures with their cause."""
    cases = report.cases
    sweeps = report.sweeps
    checks = report.distributions
    failures = sum(not c.passed for c in cases) + sum(not s.passed for s in sweeps)
    failures += len(report.problems) + sum(not d.passed for d in checks.values())
    suite = ET.Element(
        "testsuite",
        name="ganport.parity",
        tests=str(len(cases) + len(sweeps) + len(report.problems) + len(checks)),
        failures=str(failures),
        errors="0",
        time=f"{report.seconds:.3f}",
    )
    for problem in report.problems:
        case = ET.SubElement(suite, "testcase", classname="ganport.parity", name="pairing")
        ET.SubElement(case, "failure", message=problem)
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=f"ganport.parity.{c.model}", name=c.name)
        if not c.passed:
            message = c.error or f"max abs err {c.comparison.max_abs:.3g}"
            ET.SubElement(case, "failure", message=message + (f" — {c.hint}" if c.hint else ""))
    for s in sweeps:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"ganport.parity.{s.model}",
            name=f"{s.model}[sweep {s.samples}]",
        )
        if not s.passed:
            ET.SubElement(case, "failure", message=s.reason)
    for model, check in checks.items():
        case = ET.SubElement(
            suite, "testcase", classname=f"ganport.parity.{model}", name=f"{model}[distribution]"
        )
        if not check.passed:
            ET.SubElement(case, "failure", message="; ".join(check.problems))
    write_bytes(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))
