package dev.ambientj.cni.plugin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class JsonTest {
  @Test
  void readsAConfigAndKeepsRawMembers() throws Exception {
    String prev = "{ \"cniVersion\": \"1.0.0\", \"ips\": [ {\"address\": \"10.1.0.5/24\"} ], \"x\": 1.5e3 }";
    Json.Document d =
        Json.parseObject(
            "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s\",\"failOpen\":true,\"n\":null,\"s\":\"a\\u00e9\\n\",\"prevResult\":"
                + prev + "}");
    assertThat(d.root().get("name")).isEqualTo("k8s");
    assertThat(d.root().get("failOpen")).isEqualTo(Boolean.TRUE);
    assertThat(d.root().get("n")).isSameAs(Json.NULL);
    assertThat(d.root().get("s")).isEqualTo("aé\n");
    assertThat(d.rawMembers().get("prevResult")).isEqualTo(prev);
    @SuppressWarnings("unchecked")
    Map<String, Object> p = (Map<String, Object>) d.root().get("prevResult");
    assertThat(p.get("x")).isEqualTo(new Json.Num("1.5e3"));
    assertThat((List<?>) p.get("ips")).hasSize(1);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "[]",
        "{",
        "{\"a\":1,}",
        "{\"a\":1} x",
        "{\"a\":1,\"a\":2}",
        "{'a':1}",
        "{\"a\":01}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":tru}",
        "{\"a\":\"\\x\"}",
        "{\"a\":-}",
        "{\"a\" 1}"
      })
  void rejectsMalformedInput(String text) {
    assertThatThrownBy(() -> Json.parseObject(text))
        .isInstanceOf(Json.ParseException.class)
        .hasMessageContaining("at offset");
  }

  @Test
  void rejectsDeepNesting() {
    String deep = "{\"a\":" + "[".repeat(100) + "]".repeat(100) + "}";
    assertThatThrownBy(() -> Json.parseObject(deep)).hasMessageContaining("nesting");
  }

  @Test
  void quotesControlCharacters() {
    assertThat(Json.quote(new StringBuilder(), "a\"b\\c\n\u0001").toString())
        .isEqualTo("\"a\\\"b\\\\c\\n\\u0001\"");
    assertThat(Json.quote(new StringBuilder(), "agent — é").toString())
        .isEqualTo("\"agent \\u2014 \\u00e9\"");
  }
}
