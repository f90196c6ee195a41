"""A plugin package for adaptive sweeps: a weightless family on a half-octave grid and a task with one jump."""

STEP_PLUGINS = '''
import time
from harness import hookimpl, Checkpoint, LoadedModel, ModelFamily, PluginOptions, Score, Task


class StepFamily(ModelFamily):
    """Checkpoints on a half-octave grid (0, 1, 2, 3, 4, 6, 8, 12, ...) of a model that needs no weights."""

    name = "stepfamily"

    class Options(PluginOptions):
        steps: list[int] = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]
        tokens_per_step: int = 1000

    def checkpoints(self):
        return [Checkpoint(s, s * self.options.tokens_per_step, f"step{s}") for s in self.options.steps]

    def num_layers(self):
        return 1

    def load(self, checkpoint, device="cpu"):
        return LoadedModel(model=None, tokenizer=None, checkpoint=checkpoint, identity="step", commit=f"c{checkpoint.step}")


class JumpTask(Task):
    """Instruction following that jumps from 0 to 1 at step ``jump``; optionally slow, to be killed mid-sweep."""

    name = "jumptask"

    class Options(PluginOptions):
        jump: int = 20
        sleep: float = 0.0

    def evaluate(self, model, *, seed, workdir):
        time.sleep(self.options.sleep)
        step = model.checkpoint.step
        return [Score("follows_format", float(step >= self.options.jump), scope="instruction"),
                Score("acc", step / 1000, scope="cloze")]


@hookimpl
def register_model_families(register):
    register(StepFamily)


@hookimpl
def register_tasks(register):
    register(JumpTask)
'''
