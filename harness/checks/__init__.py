"""Named checks of a finished run: pure functions from what a job wrote to a CheckResult.

Generic platform checks (`image`, `paths`, `restore`, `learning`, `resume`,
`reproducible`) hold for any TensorFlow job; `captioning` holds the im2txt
profile's model checks. The scenario (`harness.validate`) gathers their inputs.
"""
