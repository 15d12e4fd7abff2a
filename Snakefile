# sharpgen: does sharpness predict generalization?
#
# Path grammar (every output; logs and benchmarks mirror it under results/logs, results/benchmarks):
#   results/data/<setting>/{dataset.pt,subset.pt,split.parquet}    materialised data, once per setting
#   results/models/<setting>/<model>/{checkpoint.pt,history.parquet} trained (or downloaded) models
#   results/metrics/<setting>/<model>.parquet                        loss and error on every split
#   results/sharpness/<setting>/<model>.parquet                      every definition for one model
#   results/tables/<setting>/<table>.parquet                         aggregated tables, tau tables
#   results/figures/<setting>/<definition>.{png,pdf}                 error vs sharpness
#   results/report/<setting>.md                                      the setting's report


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/sharpness.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
