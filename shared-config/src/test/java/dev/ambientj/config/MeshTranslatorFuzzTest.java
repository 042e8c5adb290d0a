package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ContainerNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Fuzzes the YAML → snapshot path every process shares ({@link MeshYaml} and {@link
 * MeshTranslator}) with structured mutations of the seed objects: the documents of {@code
 * ../shared/seed-examples/*.yaml} and {@code examples/*.yaml} as trees, whose fields, types and
 * nesting the input edits before they are written back as YAML.
 *
 * <p>Input: {@code [file]} then edits {@code [op] [node:2] [length] bytes…}; the node is one of the
 * file's tree nodes in document order. op % 11: 0 a string, 1 a number (the bytes as a decimal,
 * negative, huge or fractional), 2 true/false/null, 3 delete it, 4 wrap it in a list, 5 wrap it in
 * a map under the bytes as key, 6 copy it into its parent again, 7 an empty map or list, 8 rename
 * its key, 9 nest it 40 lists deep, 10 append the bytes as a raw YAML document. The translator first
 * sees the file as is, then the edited one, so the "keep the last good version" path runs too.
 *
 * <p>A finding: any exception (the loader and translator never throw on input; a bad object is a
 * rejection naming it).
 */
class MeshTranslatorFuzzTest {
  private static final YAMLMapper YAML = new YAMLMapper();
  private static final List<List<JsonNode>> FILES = new ArrayList<>();
  private static final List<String> TEXTS = new ArrayList<>();

  static {
    try (Stream<Path> seeds = Files.list(Repo.seedExamples()); Stream<Path> examples = Files.list(Repo.examples())) {
      for (Path p : Stream.concat(seeds, examples).filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
        String text = Files.readString(p);
        List<JsonNode> docs = new ArrayList<>();
        try (var it = YAML.readerFor(JsonNode.class).readValues(text)) {
          while (it.hasNext()) {
            JsonNode d = (JsonNode) it.next();
            if (d != null && !d.isNull() && !d.isMissingNode()) {
              docs.add(d);
            }
          }
        }
        FILES.add(docs);
        TEXTS.add(text);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @FuzzTest
  void mutatedObjects(byte[] input) throws IOException {
    if (input.length < 1) {
      return;
    }
    int file = (input[0] & 0xFF) % FILES.size();
    ArrayNode docs = JsonNodeFactory.instance.arrayNode();
    FILES.get(file).forEach(d -> docs.add(d.deepCopy()));
    StringBuilder raw = new StringBuilder();
    int at = 1;
    while (at + 4 <= input.length) {
      int op = (input[at] & 0xFF) % 11;
      int which = ((input[at + 1] & 0xFF) << 8) | (input[at + 2] & 0xFF);
      int len = Math.min(input[at + 3] & 0xFF, input.length - at - 4);
      String text = new String(input, at + 4, len, StandardCharsets.UTF_8);
      at += 4 + len;
      if (op == 10) {
        raw.append("\n---\n").append(text);
        continue;
      }
      List<Slot> slots = new ArrayList<>();
      collect(docs, slots);
      if (!slots.isEmpty()) {
        edit(slots.get(which % slots.size()), op, text);
      }
    }
    StringBuilder yaml = new StringBuilder();
    for (JsonNode d : docs) {
      yaml.append(YAML.writeValueAsString(d));
    }
    yaml.append(raw);

    MeshTranslator translator = new MeshTranslator();
    MeshYaml.Result before = MeshYaml.load(TEXTS.get(file), "seed.yaml");
    translator.translate(before.objects(), rejections(before));
    MeshYaml.Result after = MeshYaml.load(yaml.toString(), "seed.yaml");
    MeshSnapshot s = translator.translate(after.objects(), rejections(after));
    assertThat(s).isNotNull();
    for (ConfigRejection r : s.rejections()) {
      assertThat(r.problem()).as("every rejection says what is wrong").isNotBlank();
    }
  }

  private static List<ConfigRejection> rejections(MeshYaml.Result r) {
    return r.errors().stream().map(e -> e.toRejection(false)).toList();
  }

  /** A node and where it sits: its parent and its key (object) or index (array). */
  private record Slot(ContainerNode<?> parent, String key, int index) {
    JsonNode node() {
      return parent instanceof ObjectNode o ? o.get(key) : ((ArrayNode) parent).get(index);
    }

    void set(JsonNode value) {
      if (parent instanceof ObjectNode o) {
        o.set(key, value);
      } else {
        ((ArrayNode) parent).set(index, value);
      }
    }
  }

  private static void collect(ContainerNode<?> parent, List<Slot> out) {
    if (parent instanceof ObjectNode o) {
      for (String k : iterable(o.fieldNames())) {
        out.add(new Slot(o, k, -1));
        if (o.get(k) instanceof ContainerNode<?> c) {
          collect(c, out);
        }
      }
    } else if (parent instanceof ArrayNode a) {
      for (int i = 0; i < a.size(); i++) {
        out.add(new Slot(a, null, i));
        if (a.get(i) instanceof ContainerNode<?> c) {
          collect(c, out);
        }
      }
    }
  }

  private static <T> Iterable<T> iterable(java.util.Iterator<T> it) {
    List<T> l = new ArrayList<>();
    it.forEachRemaining(l::add);
    return l;
  }

  private static void edit(Slot slot, int op, String text) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    JsonNode node = slot.node();
    switch (op) {
      case 0 -> slot.set(f.textNode(text));
      case 1 -> slot.set(number(text));
      case 2 -> slot.set(text.isEmpty() ? f.nullNode() : f.booleanNode(text.length() % 2 == 0));
      case 3 -> {
        if (slot.parent() instanceof ObjectNode o) {
          o.remove(slot.key());
        } else {
          ((ArrayNode) slot.parent()).remove(slot.index());
        }
      }
      case 4 -> slot.set(f.arrayNode().add(node));
      case 5 -> slot.set(f.objectNode().set(text, node));
      case 6 -> {
        if (slot.parent() instanceof ArrayNode a) {
          a.add(node.deepCopy());
        } else {
          ((ObjectNode) slot.parent()).set(slot.key() + text, node.deepCopy());
        }
      }
      case 7 -> slot.set(text.isEmpty() ? f.objectNode() : f.arrayNode());
      case 8 -> {
        if (slot.parent() instanceof ObjectNode o) {
          o.remove(slot.key());
          o.set(text, node);
        }
      }
      default -> {
        JsonNode deep = node;
        for (int i = 0; i < 40; i++) {
          deep = f.arrayNode().add(deep);
        }
        slot.set(deep);
      }
    }
  }

  /** The bytes as a number: an integer when they are digits, else something a parser must reject. */
  private static JsonNode number(String text) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    try {
      return f.numberNode(new java.math.BigDecimal(text.trim()));
    } catch (NumberFormatException e) {
      return f.numberNode(text.isEmpty() ? -1 : text.hashCode() * (long) Integer.MAX_VALUE);
    }
  }
}
