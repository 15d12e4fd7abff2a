# sharpgen: does sharpness predict generalization?
#
# Path grammar (every output; logs and benchmarks mirror it as results/logs/<rule>/... and
# results/benchmarks/<rule>/...):
#   results/downloads/<setting>/<file>                  downloaded checkpoints and data archives
#   results/imports/<setting>/<file>                    links to the user's own checkpoints
#   results/archives/<archive>.zip, <archive>/          archives shared by settings (PGDL), extracted
#                                                       (<archive>/extracted.json written last)
#   results/data/<setting>/{dataset.pt,split.parquet}   evaluation splits (metrics: evaluate)
#   results/data/<setting>/{subset.pt,subset.parquet}   the sharpness data and where it comes from
#   results/models/<setting>/<model>/{checkpoint.pt,history.parquet}   models trained here
#   results/metrics/<setting>/{evaluated,published}/<job>.parquet      loss and error per split
#   results/sharpness/<setting>/<job>.parquet           every definition for a job's models
#   results/cache/sharpness/<setting>/<model>/<definition>.parquet     one cached pair
#   results/measures/<setting>/<job>.parquet            every baseline/curvature measure of a job's models
#   results/cache/measures/<setting>/<model>/<measure>.parquet        one cached (model, measure)
#   results/tables/<setting>/<table>.parquet            aggregated tables, tau tables, subsets, radius_check (+ .md)
#   results/tables/<setting>/{reproduction,drift}.{parquet,md}   the paper's values beside ours; evaluated vs published accuracy
#   results/tables/pgdl_task_average.{parquet,md}      the PGDL score of every task and its mean (PGDL tasks only)
#   results/figures/<setting>/<definition>.{png,pdf}    error vs sharpness (its logit-normalised twin as the top row)
#   results/figures/<setting>/subsets/<definition>.{png,pdf}   tau over random subsets of k models
#   results/figures/<setting>/captures/<hyperparameter>.{png,pdf}   sharpness vs lr, colour = test error
#   results/report/<setting>.{md,html}                  the setting's report (html: self-contained)
#   results/theory/dln.{parquet,png,pdf}               diagonal linear networks (no setting)
#   results/theory/linear_model.{parquet,png,pdf}      the authors' linear-model notebook (no setting)
# A <job> is a model id (shards: 0) or a shard of models; <setting> a registered setting.


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/sharpness.smk"
include: "workflow/rules/measures.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/checks.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/theory.smk"


# A file replaced behind its modification time (cp -p) is refused here; every successful run
# records what the results were computed from (sharpgen.freshness).
freshness.refuse_hidden_changes(content_inputs(), CONTENT_RECORD)


onsuccess:
    freshness.record_content(content_inputs(), CONTENT_RECORD)


rule all:
    default_target: True
    input:
        get_final_outputs(),
