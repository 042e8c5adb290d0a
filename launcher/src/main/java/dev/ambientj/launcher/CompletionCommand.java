package dev.ambientj.launcher;

import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code mesh completion bash|zsh}: picocli's completion script for every subcommand and flag of
 * {@code mesh}, on stdout. The script serves both shells (in zsh it loads {@code bashcompinit}).
 */
@Command(name = "completion", mixinStandardHelpOptions = true,
    description = {"Print a completion script for mesh. Load it in the current shell:",
        "  source <(mesh completion bash)",
        "or install it, e.g. mesh completion bash > /etc/bash_completion.d/mesh."})
final class CompletionCommand implements Callable<Integer> {
  enum Shell { BASH, ZSH }

  @Spec CommandSpec spec;

  @Parameters(paramLabel = "SHELL", description = "bash or zsh")
  Shell shell;

  @Override
  public Integer call() {
    CommandLine mesh = spec.commandLine().getParent();
    String script = AutoComplete.bash("mesh", mesh);
    spec.commandLine().getOut().print(script);
    spec.commandLine().getOut().flush();
    return 0;
  }
}
