"""A seed-style stage reading its input from the context mapping."""

from flowkit import Pipeline, StageContext, stage


@stage
def load(context: StageContext) -> str:
    return str(context["source"])


pipeline = Pipeline.from_module(__name__, name="context_input")
