rule prepare_digits:
    output:
        dataset="results/data/digits/dataset.pt",
        subset="results/data/digits/subset.pt",
        split="results/data/digits/split.parquet",
    log:
        "results/logs/prepare_digits/digits.log",
    conda:
        "../../envs/sharpgen.yaml"
    params:
        data=config["digits"]["data"],
        n=config["digits"]["sharpness"]["n"],
    shell:
        "python -m sharpgen prepare-digits --test-fraction {params.data[test_fraction]} "
        "--split-seed {params.data[split_seed]} --shift-severity {params.data[shift_severity]} "
        "--shift-seed {params.data[shift_seed]} --n {params.n} --out-dataset {output.dataset} "
        "--out-subset {output.subset} --out-split {output.split} > {log} 2>&1"
