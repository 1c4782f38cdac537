"""Research at scale: Monte Carlo resamples of a replay's trades and sweeps of Basso's sizing settings.

One job per module: `montecarlo` resamples a replay's closed trades (pure numpy, reproducible from a seed),
`grid` turns `--grid` names and values into validated configurations, `sweep` replays each of them through
the live rules, `engine` runs chunks of either on Dask (`distributed`: a local cluster or an existing one),
and `report` writes the HTML report, results.csv and summary.json.
"""
