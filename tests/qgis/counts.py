"""How many algorithms the provider registers, for the tests that count them: exact counts, a
new algorithm must be added here and get a case (test_catalogue_processing.CASES or
TESTED_ELSEWHERE)."""

RASTER_ALGORITHMS = 30  # TilewiseAlgorithm subclasses outside the Vectors group, no pipeline
ALGORITHMS = 34         # every algorithm, models left out (the 30, pipeline and 3 vector ones)
MODELS = 3
ALL_ALGORITHMS = ALGORITHMS + MODELS  # everything under tilewise:
