package dev.ambientj.config.xds;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fuzzes xDS resource decoding ({@link WdsDecoder}): Istio's {@code Address} (workloads, services)
 * and {@code Authorization}, and our own types (nodes, Kubernetes objects for L7 config,
 * rejections), as a proxy decodes what the config server (or a stranger on its port) sends.
 *
 * <p>Structured: the input is a list of edits to a real resource set, the example mesh and its
 * policies encoded by {@link WdsEncoder}, so that mutations start from well-formed protobuf and
 * reach every decoder. Each edit is {@code [op] [resource] [position:2] [length] bytes…}: op % 6 is
 * 0 overwrite bytes of the resource's value at the position, 1 insert them, 2 truncate the value
 * there, 3 replace the value with the bytes, 4 drop the resource, 5 copy it under another type
 * (the bytes' first one picks it). The empty input is the set as encoded, which must decode.
 *
 * <p>A finding: any exception but {@link XdsDecodeException} (the contract: a resource that cannot
 * be decoded fails the set with that exception naming it, and the proxy NACKs that resource alone;
 * anything else NACKs the whole response).
 */
class WdsDecoderFuzzTest {
  private static final List<Map.Entry<String, Map.Entry<String, Any>>> BASE = new ArrayList<>();

  static {
    try {
      XdsResources encoded = new WdsEncoder().encode(Meshes.translate(Meshes.exampleYaml()));
      encoded.byType().forEach((type, resources) ->
          resources.forEach((name, any) -> BASE.add(Map.entry(type, Map.entry(name, any)))));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @FuzzTest
  void resources(byte[] input) {
    List<Map.Entry<String, Map.Entry<String, Any>>> set = new ArrayList<>(BASE);
    int at = 0;
    while (at + 5 <= input.length && !set.isEmpty()) {
      int op = (input[at] & 0xFF) % 6;
      int index = (input[at + 1] & 0xFF) % set.size();
      int position = ((input[at + 2] & 0xFF) << 8) | (input[at + 3] & 0xFF);
      int len = Math.min(input[at + 4] & 0xFF, input.length - at - 5);
      byte[] bytes = java.util.Arrays.copyOfRange(input, at + 5, at + 5 + len);
      at += 5 + len;
      Map.Entry<String, Map.Entry<String, Any>> r = set.get(index);
      byte[] value = r.getValue().getValue().getValue().toByteArray();
      int pos = value.length == 0 ? 0 : position % (value.length + 1);
      byte[] edited = switch (op) {
        case 0 -> overwrite(value, pos, bytes);
        case 1 -> concat(java.util.Arrays.copyOf(value, pos), bytes, java.util.Arrays.copyOfRange(value, pos, value.length));
        case 2 -> java.util.Arrays.copyOf(value, pos);
        default -> bytes;
      };
      if (op == 4) {
        set.remove(index);
        continue;
      }
      String type = r.getKey();
      String name = r.getValue().getKey();
      if (op == 5) {
        type = TypeUrls.ALL.get((bytes.length == 0 ? 0 : bytes[0] & 0xFF) % TypeUrls.ALL.size());
        name = name + "-copy";
        edited = value;
      }
      Any any = Any.newBuilder().setTypeUrl(type).setValue(ByteString.copyFrom(edited)).build();
      if (op == 5) {
        set.add(Map.entry(type, Map.entry(name, any)));
      } else {
        set.set(index, Map.entry(type, Map.entry(name, any)));
      }
    }
    Map<String, Map<String, Any>> byType = new LinkedHashMap<>();
    for (var e : set) {
      byType.computeIfAbsent(e.getKey(), t -> new LinkedHashMap<>()).put(e.getValue().getKey(), e.getValue().getValue());
    }
    try {
      assertThat(new WdsDecoder().decode(new XdsResources(byType), 1)).isNotNull();
    } catch (XdsDecodeException e) {
      assertThat(input).as("the example mesh as encoded decodes").isNotEmpty();
      assertThat(e.resourceName()).as("the exception names the resource").isNotNull();
    }
  }

  private static byte[] overwrite(byte[] value, int pos, byte[] bytes) {
    byte[] out = java.util.Arrays.copyOf(value, Math.max(value.length, pos + bytes.length));
    System.arraycopy(bytes, 0, out, pos, bytes.length);
    return out;
  }

  private static byte[] concat(byte[] a, byte[] b, byte[] c) {
    byte[] out = new byte[a.length + b.length + c.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    System.arraycopy(c, 0, out, a.length + b.length, c.length);
    return out;
  }
}
