package dev.ambientj.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scan over a proc tree built in a temporary directory: {@code <pid>/ns/net} links to one file
 * per network namespace (so that stat gives one inode per namespace, as nsfs does), {@code
 * <pid>/net/fib_trie} and {@code if_inet6} as the kernel prints them.
 */
class ProcNetnsFinderTest {
  @TempDir Path proc;

  /** fib_trie of a pod netns with eth0 10.245.1.10/24 and our "local 0.0.0.0/0 table 100" route. */
  static String fibTrie(String podIp) {
    String subnet = podIp.substring(0, podIp.lastIndexOf('.'));
    return """
        Main:
          +-- 0.0.0.0/0 3 0 5
             |-- 0.0.0.0
                /0 universe UNICAST
             +-- %1$s.0/24 2 0 2
                +-- %1$s.0/28 2 0 2
                   |-- %1$s.0
                      /24 link UNICAST
                   |-- %2$s
                      /32 host LOCAL
                |-- %1$s.255
                   /32 link BROADCAST
             +-- 127.0.0.0/8 2 0 2
                +-- 127.0.0.0/31 1 0 0
                   |-- 127.0.0.0
                      /8 host LOCAL
                   |-- 127.0.0.1
                      /32 host LOCAL
                |-- 127.255.255.255
                   /32 link BROADCAST
        Id 100:
          |-- 0.0.0.0
             /0 host LOCAL
        Local:
          +-- 0.0.0.0/0 3 0 5
             |-- %2$s
                /32 host LOCAL
        """.formatted(subnet, podIp);
  }

  @Test
  void fibTrieYieldsTheInterfaceAddressesOnly() {
    assertThat(ProcNetnsFinder.localAddressesOfFibTrie(fibTrie("10.245.1.10")))
        .containsExactlyInAnyOrder(ip("10.245.1.10"), ip("127.0.0.1"));
    assertThat(ProcNetnsFinder.localAddressesOfFibTrie("")).isEmpty();
    assertThat(ProcNetnsFinder.localAddressesOfFibTrie("|-- not-an-ip\n   /32 host LOCAL\n")).isEmpty();
  }

  @Test
  void ifInet6YieldsEveryAddress() {
    String ifInet6 = """
        fd000000000000000000000000000002 04 40 00 82     eth0
        fe8000000000000000fc00fffe000001 04 40 20 80     eth0
        00000000000000000000000000000001 01 80 10 80       lo
        garbage
        """;
    assertThat(ProcNetnsFinder.addressesOfIfInet6(ifInet6)).containsExactlyInAnyOrder(
        ip("fd00::2"), ip("fe80::fc:ff:fe00:1"), ip("::1"));
  }

  @Test
  void findsEachAddressInItsNamespaceUnderTheLowestPidAndSkipsTheHost() throws Exception {
    Path host = netns("host");
    Path a = netns("a");
    Path b = netns("b");
    process(1, host, "10.245.1.30", null); // pid 1's namespace is the host's
    process(50, a, "10.245.1.10", null);
    process(9, a, "10.245.1.10", null); // same namespace, lower pid (and "9" sorts after "50")
    process(70, b, "10.245.1.20", "fd00000000000000000000000000a014 02 40 00 80 eth0\n");
    Files.createDirectories(proc.resolve("self"));
    Files.createDirectories(proc.resolve("1234/ns")); // a process that exited: no ns/net

    ProcNetnsFinder finder = new ProcNetnsFinder(proc);
    Map<InetAddress, ProcNetnsFinder.Found> found = finder.find(Set.of(ip("10.245.1.10"),
        ip("10.245.1.20"), ip("fd00::a014"), ip("10.245.1.30"), ip("10.245.1.99")));

    assertThat(found).containsOnlyKeys(ip("10.245.1.10"), ip("10.245.1.20"), ip("fd00::a014"));
    ProcNetnsFinder.Found fa = found.get(ip("10.245.1.10"));
    assertThat(fa.pid()).isEqualTo(9);
    assertThat(fa.netns()).isEqualTo(proc.resolve("9/ns/net"));
    assertThat(fa.id()).isEqualTo(ProcNetnsFinder.idOf(a));
    assertThat(found.get(ip("10.245.1.20")).pid()).isEqualTo(70);
    assertThat(found.get(ip("fd00::a014")).id()).isEqualTo(ProcNetnsFinder.idOf(b));
    assertThat(finder.find(Set.of())).isEmpty();
  }

  @Test
  void anAddressInTwoNamespacesIsNobodys() throws Exception {
    process(20, netns("a"), "10.245.1.10", null);
    process(30, netns("b"), "10.245.1.10", null);
    process(40, netns("c"), "10.245.1.10", null);
    process(50, netns("d"), "10.245.1.11", null);
    assertThat(new ProcNetnsFinder(proc).find(Set.of(ip("10.245.1.10"), ip("10.245.1.11"))))
        .containsOnlyKeys(ip("10.245.1.11"));
  }

  @Test
  void aMissingProcIsNoAddress() {
    assertThat(new ProcNetnsFinder(proc.resolve("nope")).find(Set.of(ip("10.245.1.10")))).isEmpty();
    assertThat(ProcNetnsFinder.idOf(proc.resolve("nope"))).isNull();
  }

  private Path netns(String name) throws Exception {
    Path dir = Files.createDirectories(proc.resolve("nsfs")); // not a pid: not scanned
    return Files.writeString(dir.resolve(name), name);
  }

  /** A process directory: ns/net linking to {@code ns}, net/fib_trie with {@code ip}. */
  private void process(long pid, Path ns, String ip, String ifInet6) throws Exception {
    Path dir = proc.resolve(Long.toString(pid));
    Files.createDirectories(dir.resolve("ns"));
    Files.createSymbolicLink(dir.resolve("ns/net"), ns);
    Files.createDirectories(dir.resolve("net"));
    Files.writeString(dir.resolve("net/fib_trie"), fibTrie(ip));
    if (ifInet6 != null) {
      Files.writeString(dir.resolve("net/if_inet6"), ifInet6);
    }
  }

  static InetAddress ip(String s) {
    return InetAddress.ofLiteral(s);
  }
}
