"""What people read: run folders, tables, figures and sheets.

Run folders, tables, figures, the disagreement sheets, the HTML report (``report.html``: an
offline page with the tables and a pair browser with synchronized playback), paired-comparison
reports, failure summaries and provenance. It computes no statistic of its own (see
:mod:`judges.stats`); matplotlib is imported only where a figure is drawn.
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "RunFolder": "run_folder",
    "claim_output": "output_folder",
    "staged": "output_folder",
    "merge_runs": "merging",
    "merged_ceiling": "merging",
    "run_labels": "merging",
    "new_run_id": "run_folder",
    "read_run": "run_folder",
    "verdict_table": "run_folder",
    "write_run": "run_folder",
    "agreement_markdown": "tables",
    "display_table": "tables",
    "interval_note": "tables",
    "paper_table": "tables",
    "to_markdown": "tables",
    "plot_agreement_vs_frames": "agreement_figures",
    "plot_heatmap": "agreement_figures",
    "plot_outcomes": "agreement_figures",
    "write_figures": "agreement_figures",
    "plot_forest": "diagnostic_figures",
    "plot_reliability": "diagnostic_figures",
    "plot_risk_coverage": "diagnostic_figures",
    "export_disagreements": "disagreements",
    "pair_sheet": "disagreements",
    "compare_runs": "comparisons",
    "load_verdicts": "comparisons",
    "write_comparisons": "comparisons",
    "failure_summary": "failures",
    "failing_judges": "failures",
    "format_failures": "failures",
    "HtmlReportOptions": "html_page",
    "write_html_report": "html_report",
    "write_merged_html_report": "html_report",
    "rankings_for_runs": "rankings",
    "write_rankings": "rankings",
    "write_ranking_figures": "ranking_figures",
    "git_commit": "provenance",
    "library_versions": "provenance",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
