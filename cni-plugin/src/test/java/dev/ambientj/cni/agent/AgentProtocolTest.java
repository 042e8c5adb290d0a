package dev.ambientj.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.cni.redirect.InpodRedirect;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AgentProtocolTest {
  @Test
  void requestLinesRoundTripWithAbsentFields() {
    String line = AgentProtocol.request("DEL", "", "default", "web-0", null);
    assertThat(line).isEqualTo("DEL - default web-0 -");
    assertThat(AgentProtocol.Request.parse(line))
        .isEqualTo(new AgentProtocol.Request("DEL", "", "default", "web-0", ""));
  }

  @Test
  void fieldsWithWhitespaceAreRefused() {
    assertThatThrownBy(() -> AgentProtocol.request("ADD", "/var/run/netns/a b", "ns", "p", "u"))
        .hasMessage("netns \"/var/run/netns/a b\" holds whitespace or a control character");
  }

  @Test
  void theAgentAnswersBadRequestsWithErrAndSkipsPodsItDoesNotEnroll() throws Exception {
    List<String> commands = new ArrayList<>();
    NodeAgent agent =
        NodeAgent.unstarted(
            () -> AgentTestSupport.snapshot("default/a", "default/b"),
            new InpodRedirect(
                (ns, argv, stdin) -> {
                  commands.add(String.join(" ", argv));
                  return new dev.ambientj.cni.redirect.CommandRunner.Result(0, "", "");
                }));
    assertThat(agent.answer("HELLO")).startsWith("ERR bad request: expected 'VERB netns namespace pod uid'");
    assertThat(agent.answer("GC a b c d")).isEqualTo("ERR bad request: unknown verb 'GC' (expected ADD, DEL or CHECK)");
    assertThat(agent.answer("ADD /n default b uid-b")).isEqualTo("SKIP");
    assertThat(agent.answer("ADD /n default unknown -")).isEqualTo("SKIP");
    assertThat(commands).isEmpty();
    assertThat(agent.answer("ADD - default a -")).isEqualTo("ERR ADD pod default/a: no netns given");
    assertThat(agent.answer("ADD /n other-ns-name-ignored-by-uid x uid-a")).isEqualTo("OK");
    assertThat(commands).contains("iptables-restore --noflush");
  }
}
