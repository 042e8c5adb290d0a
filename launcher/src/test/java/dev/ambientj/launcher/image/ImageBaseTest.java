package dev.ambientj.launcher.image;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The image's base brings every program ambientj executes: the CNI agent's redirection (install,
 * check, remove) is run against a recording runner, and each program it calls, with the {@code
 * nsenter} the real runner wraps them in, must be in {@code ambientj.image.base.provides} of
 * launcher/pom.xml — the one place the base is declared (the node harness gives the image exactly
 * that list, so it shows the same thing end to end).
 */
class ImageBaseTest {

  @Test
  void theBaseProvidesEveryProgramTheCniAgentRuns() throws Exception {
    Set<String> executed = new TreeSet<>();
    executed.add(CommandRunner.NSENTER);
    CommandRunner recording = (netns, argv, stdin) -> {
      executed.add(argv.get(0));
      return new CommandRunner.Result(0, "", "");
    };
    InpodRedirect redirect = new InpodRedirect(recording);
    redirect.install("/var/run/netns/pod");
    redirect.check("/var/run/netns/pod");
    redirect.remove("/var/run/netns/pod");
    assertThat(executed).contains("iptables-save", "iptables-restore", "ip");

    List<String> provided = declaredBase().stream().map(p -> Path.of(p).getFileName().toString()).toList();
    assertThat(provided).as("ambientj.image.base.provides of launcher/pom.xml").containsAll(executed);
  }

  @Test
  void theImageScriptRunsTheImagesOwnRuntime() throws Exception {
    String mesh = Files.readString(Path.of("src/main/jib/app/mesh"));
    assertThat(mesh).as("the base has no Java: /app/jre is ImageRuntime's").contains("exec /app/jre/bin/java ");
    assertThat(Files.readString(Path.of("pom.xml")))
        .contains("dev.ambientj.launcher.image.ImageRuntime")
        .contains("<into>/app/jre</into>");
    assertThat(ImageRuntime.MODULES).contains("java.base", "jdk.unsupported");
  }

  static List<String> declaredBase() throws Exception {
    Matcher m = Pattern.compile("<ambientj\\.image\\.base\\.provides>([^<]*)</ambientj\\.image\\.base\\.provides>")
        .matcher(Files.readString(Path.of("pom.xml")));
    assertThat(m.find()).as("launcher/pom.xml declares ambientj.image.base.provides").isTrue();
    return Arrays.stream(m.group(1).trim().split("\\s+")).toList();
  }
}
