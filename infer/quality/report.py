"""``ganport evaluate``'s report as text: every figure beside its floor and ceiling."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganport.infer.quality.evaluate import Evaluation, Figures


def summary(result: Evaluation) -> str:
    """The report as text: context lines, then one row per metric and one column per set."""
    net = result.feature_net
    shape = "×".join(map(str, result.image_shape))
    trained = f"trained now in {net['train_seconds']:.0f} s, " if net["trained_now"] else ""
    columns = [("model", f"n={result.model.n}", result.model)]
    matched = result.model_matched.n != result.model.n
    if matched:
        columns.append(("model, first", f"n={result.model_matched.n}", result.model_matched))
    columns += [
        ("floor: real", f"n={result.floor.n}", result.floor),
        ("ceiling: noise", f"n={result.ceiling.n}", result.ceiling),
    ]
    rows = [
        ("FID", lambda f: f"{f.fid:.4g}"),
        ("KID", lambda f: f"{f.kid_mean:.3g} ± {f.kid_std:.2g}"),
        ("classifier score", lambda f: f"{f.classifier_score:.2f} / {result.n_classes}"),
        ("classes covered", lambda f: f"{f.classes_covered} / {result.n_classes}"),
        ("precision (k=3)", lambda f: f"{f.precision:.3f}"),
        ("recall (k=3)", lambda f: f"{f.recall:.3f}"),
    ]
    if result.model.class_agreement is not None:
        rows.append(("class as asked", _agreement))
    lines = [
        f"generator  {result.generator} ({result.source} on {result.provider}), seed {result.seed}",
        f"data       {result.data} ({shape}): {result.reference_size} real reference images",
        f"features   {net['path']} ({trained}test accuracy {net['test_accuracy']:.1%} "
        f"on {net['held_out']} held-out images)",
        "",
    ]
    table = [["", *(head for head, _, _ in columns)], ["", *(size for _, size, _ in columns)]]
    table += [[name, *(cell(f) for _, _, f in columns)] for name, cell in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = [cell.rjust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("   ".join([row[0].ljust(widths[0]), *cells[1:]]))
    if matched:
        lines.append(
            f"(FID and recall depend on n: the model's first {result.model_matched.n} "
            "samples compare with the floor like for like)"
        )
    histogram = "  ".join(
        f"{i}:{share:.1%}" for i, share in enumerate(result.model.class_histogram)
    )
    lines += [
        "",
        f"FID position: {result.fid_position:.2%} of the way from floor to ceiling",
        f"classes (model): {histogram}",
        f"time: {result.seconds['total']:.1f} s (model, data and feature network "
        f"{result.seconds['load']:.1f} s, sampling {result.seconds['sample']:.1f} s, "
        f"features and metrics {result.seconds['metrics']:.1f} s)",
    ]
    return "\n".join(lines)


def _agreement(figures: Figures) -> str:
    """A conditional model's samples drawn as their latent's class; the floor's labels."""
    return "–" if figures.class_agreement is None else f"{figures.class_agreement:.3f}"
