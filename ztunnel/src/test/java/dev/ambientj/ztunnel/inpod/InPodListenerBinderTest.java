package dev.ambientj.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.zds.Netns;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pod handed over again — after the node agent restarted — is recognised by its network
 * namespace, whatever path the agent opened it by: it keeps its registration (and descriptor)
 * instead of being replaced, so nothing serving it is left with a closed descriptor. Needs root.
 */
class InPodListenerBinderTest {
  @TempDir Path dir;

  @Test
  void theSameNamespaceOpenedThroughAnotherPathIsTheSamePod() throws Exception {
    PrivilegedNetns.require();
    Path otherPath = Files.createFile(dir.resolve("netns-seen-by-a-restarted-agent"));
    try (PrivilegedNetns pod = PrivilegedNetns.create("ambientj-bind");
        NetnsExecutor executor = new NetnsExecutor()) {
      PrivilegedNetns.run("mount", "--bind", pod.path().toString(), otherPath.toString());
      try {
        InPodListenerBinder binder = new InPodListenerBinder(executor);
        int first = Netns.open(pod.path());
        InPodListenerBinder.Registration a = binder.register("uid-1", "shop", "client", "client", first);
        int again = Netns.open(otherPath);
        assertThat(Files.readSymbolicLink(Path.of("/proc/self/fd/" + again)))
            .as("the descriptor's path differs").isNotEqualTo(Files.readSymbolicLink(Path.of("/proc/self/fd/" + first)));
        InPodListenerBinder.Registration b = binder.register("uid-1", "shop", "client", "client", again);
        assertThat(b.replaced()).as("nothing replaced").isNull();
        assertThat(b.pod()).as("the first registration stays").isSameAs(a.pod());
        assertThat(a.pod().netnsId()).startsWith("net:[");
        Netns.checkNetwork(a.pod().netnsFd()); // still open, still the pod's namespace

        try (PrivilegedNetns other = PrivilegedNetns.create("ambientj-bind2")) {
          InPodListenerBinder.Registration c = binder.register("uid-1", "shop", "client", "client",
              Netns.open(other.path()));
          assertThat(c.replaced()).as("a new sandbox of the pod replaces the old one").isSameAs(a.pod());
          c.replaced().close();
          c.pod().close();
        }
      } finally {
        PrivilegedNetns.run("umount", otherPath.toString());
      }
    }
  }
}
