rule prepare_dataset:
    input:
        unpack(get_dataset_inputs),
    output:
        dataset="results/data/{setting}/dataset.pt",
        split="results/data/{setting}/split.parquet",
    log:
        "results/logs/prepare_dataset/{setting}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{setting}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        block=get_block("data_keys"),
        inputs=get_input_args,
    shell:
        "python -m sharpgen prepare-dataset --setting {wildcards.setting} --block {params.block} "
        "--input {params.inputs} --out-dataset {output.dataset:q} --out-split {output.split:q} "
        "> {log:q} 2>&1"


rule prepare_subset:
    input:
        unpack(get_subset_inputs),
    output:
        subset="results/data/{setting}/subset.pt",
        table="results/data/{setting}/subset.parquet",
    log:
        "results/logs/prepare_subset/{setting}.log",
    benchmark:
        "results/benchmarks/prepare_subset/{setting}.tsv"
    conda:
        "../../envs/sharpgen.yaml"
    params:
        block=get_block("data_keys"),
        n=get_setting_param("sharpness", "n"),
        seed=get_setting_param("sharpness", "seed"),
        inputs=get_input_args,
    shell:
        "python -m sharpgen prepare-subset --setting {wildcards.setting} --block {params.block} "
        "--n {params.n} --seed {params.seed} --input {params.inputs} --out {output.subset:q} "
        "--out-table {output.table:q} > {log:q} 2>&1"
