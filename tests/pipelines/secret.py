"""A pipeline whose input is a secret: it must never reach the logs."""

from flowkit import Pipeline, stage


@stage
def login(password: str, user: str = "ann") -> int:
    return len(password) + len(user)


@stage
def session(login: int) -> str:
    return f"session-{login}"


pipeline = Pipeline.from_module(__name__, name="secret")
