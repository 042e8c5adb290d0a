package dev.ambientj.cni.plugin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonCodecTest {
  @Test
  void writesIndentedLikeGoMarshalIndent() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("s", "a\"b\\c\n\u00e9");
    m.put("n", 30000);
    m.put("d", new BigDecimal("1.50"));
    m.put("t", true);
    m.put("z", null);
    m.put("o", Map.of());
    m.put("a", Arrays.asList(1L, List.of(), JsonCodec.NULL));

    assertThat(JsonCodec.encode(m))
        .isEqualTo(
            """
            {
              "s": "a\\"b\\\\c\\n\\u00e9",
              "n": 30000,
              "d": 1.50,
              "t": true,
              "z": null,
              "o": {},
              "a": [
                1,
                [],
                null
              ]
            }""");
  }

  @Test
  void readValuesComeBackTheSame() throws Exception {
    String text =
        "{\"a\":[1.5e3,-0,12345678901234567890,0.1],\"s\":\"\\t\\/\\u00e9\\ud83d\\ude00\","
            + "\"o\":{\"x\":null,\"y\":false,\"e\":{},\"l\":[]}}";
    Map<String, Object> once = JsonCodec.decodeObject(text);
    String written = JsonCodec.encode(once);
    assertThat(JsonCodec.decodeObject(written)).isEqualTo(once);
    assertThat(written).contains("1.5e3", "-0", "12345678901234567890");
    assertThat(JsonCodec.encode(JsonCodec.decodeObject(written))).isEqualTo(written);
  }

  @Test
  void sameValueIgnoresMemberOrderAndNumberSpelling() throws Exception {
    Map<String, Object> read = JsonCodec.decodeObject("{\"b\":3e4,\"a\":[null,\"x\"]}");
    Map<String, Object> built = new HashMap<>();
    built.put("a", new ArrayList<>(Arrays.asList(null, "x")));
    built.put("b", 30000);
    assertThat(JsonCodec.sameValue(read, built)).isTrue();
    built.put("b", "30000");
    assertThat(JsonCodec.sameValue(read, built)).as("a string is not a number").isFalse();
    assertThat(JsonCodec.sameValue(List.of(1, 2), List.of(2, 1))).isFalse();
  }

  @Test
  void refusesWhatJsonCannotHold() {
    assertThatThrownBy(() -> JsonCodec.encode(Map.of("x", Double.POSITIVE_INFINITY)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Infinity");
    assertThatThrownBy(() -> JsonCodec.encode(Map.of(1, "x")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("java.lang.Integer");
    assertThatThrownBy(() -> JsonCodec.encode(List.of(new Object() {})))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cannot write");
    assertThatThrownBy(() -> JsonCodec.decodeObject("{\"a\":}"))
        .isInstanceOf(JsonCodec.MalformedJsonException.class).hasMessageContaining("at offset 5");
  }
}
