package dev.ambientj.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ambientj.config.model.ConfigRejection;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Reads multi-document YAML of Kubernetes objects into Fabric8 model objects.
 *
 * <p>The text is split on {@code ---} lines here rather than by the YAML parser, so that one
 * malformed document is reported (with its line and column in the file) and the others still load.
 * A {@code ---} inside a block scalar would be taken as a separator; Kubernetes manifests do not do
 * that in practice.
 *
 * <p>A document of a known kind becomes its Fabric8 class (see {@link KnownKinds}); one of an
 * unknown kind, or one whose fields do not fit the class, becomes a {@link
 * GenericKubernetesResource} so that the translator can reject it with a reason. A {@code kind:
 * List} is flattened into its items.
 */
public final class MeshYaml {
  private static final Pattern SEPARATOR = Pattern.compile("^---(\\s.*)?$");
  private static final Pattern DOCUMENT_END = Pattern.compile("^\\.\\.\\.\\s*$");
  private static final ObjectMapper YAML = new YAMLMapper();
  /** The JSON mapper behind {@link #SERIALIZATION} (for introspecting the model classes). */
  static final ObjectMapper MAPPER = new ObjectMapper();
  static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization(MAPPER, true);

  private MeshYaml() {}

  /**
   * A document that could not be read as YAML, or that is not a mapping.
   *
   * @param document 1-based index among the file's non-empty documents
   * @param line 1-based line in the file; 0 when unknown
   * @param column 1-based column; 0 when unknown
   * @param kind the {@code kind:} scanned from the document's raw text, or empty
   * @param namespace its {@code metadata.namespace}, scanned likewise, or empty
   * @param name its {@code metadata.name}, scanned likewise, or empty
   */
  public record YamlError(String source, int document, int line, int column, String message,
      String kind, String namespace, String name) {
    public YamlError(String source, int document, int line, int column, String message) {
      this(source, document, line, column, message, "", "", "");
    }

    /** {@code file:line:column}, or the file when the position is unknown. */
    public String location() {
      return line > 0 ? source + ":" + line + ":" + column : source;
    }

    /**
     * The same problem as a {@link ConfigRejection}, naming the object when its text told it.
     *
     * @param previousInForce whether the file's last good content stays in force
     */
    public ConfigRejection toRejection(boolean previousInForce) {
      String problem = "document " + document + ": " + message;
      return new ConfigRejection(kind, namespace, name, "", problem, location(), previousInForce);
    }

    @Override
    public String toString() {
      return location() + ": document " + document + ": " + message;
    }
  }

  /**
   * The objects read, in file order, the documents that could not be read, and how many documents
   * (parsed or not, empty ones aside) the text held.
   */
  public record Result(List<HasMetadata> objects, List<YamlError> errors, int documents) {
    public Result {
      objects = List.copyOf(objects);
      errors = List.copyOf(errors);
    }

    /**
     * Why a file of this text holds nothing to apply, as a rejection located at {@code source}:
     * it has no document at all (empty, or comments only). An empty list ({@code kind: List,
     * items: []}) is a document: the way to remove every object of a file on purpose.
     */
    public java.util.Optional<ConfigRejection> emptiness(String source) {
      return documents > 0 ? java.util.Optional.empty() : java.util.Optional.of(
          new ConfigRejection("", "", "", "", "empty: no Kubernetes object in it (to remove every"
              + " object of a file, write an empty list: {apiVersion: v1, kind: List, items: []})",
              source, false));
    }
  }

  /** Reads a file (UTF-8); the file name is the source name in errors. */
  public static Result load(Path file) throws IOException {
    return load(Files.readString(file, StandardCharsets.UTF_8), file.toString());
  }

  /** Reads YAML text; {@code sourceName} (e.g. the file name) prefixes error positions. */
  public static Result load(String yaml, String sourceName) {
    Objects.requireNonNull(yaml, "yaml");
    List<HasMetadata> objects = new ArrayList<>();
    List<YamlError> errors = new ArrayList<>();
    String[] lines = yaml.split("\r?\n", -1);
    StringBuilder doc = new StringBuilder();
    int docStartLine = 0; // 0-based line of doc's first line
    int docIndex = 0;
    for (int i = 0; i <= lines.length; i++) {
      boolean end = i == lines.length;
      boolean separator =
          !end
              && (SEPARATOR.matcher(lines[i]).matches()
                  || DOCUMENT_END.matcher(lines[i]).matches());
      if (end || separator) {
        if (!isBlank(doc)) {
          docIndex++;
          readDocument(doc.toString(), sourceName, docIndex, docStartLine, objects, errors);
        }
        doc.setLength(0);
        docStartLine = i + 1;
        if (separator && lines[i].length() > 3 && !lines[i].substring(3).isBlank()) {
          // "--- key: value" starts the document on the separator line; keep the content, same
          // line.
          doc.append(lines[i].substring(3).stripLeading()).append('\n');
          docStartLine = i;
        }
        continue;
      }
      doc.append(lines[i]).append('\n');
    }
    return new Result(objects, errors, docIndex);
  }

  private static boolean isBlank(CharSequence doc) {
    for (String line : doc.toString().split("\n")) {
      String t = line.strip();
      if (!t.isEmpty() && !t.startsWith("#")) {
        return false;
      }
    }
    return true;
  }

  private static void readDocument(
      String text,
      String source,
      int index,
      int startLine,
      List<HasMetadata> objects,
      List<YamlError> errors) {
    JsonNode tree;
    try {
      tree = YAML.readTree(text);
    } catch (JsonProcessingException e) {
      JsonLocation loc = e.getLocation();
      int line = loc != null && loc.getLineNr() > 0 ? startLine + loc.getLineNr() : 0;
      int column = loc != null && loc.getColumnNr() > 0 ? loc.getColumnNr() : 0;
      errors.add(scanned(text,
          new YamlError(
              source, index, line, column, "malformed YAML: " + firstLine(e.getOriginalMessage()))));
      return;
    } catch (IOException e) {
      errors.add(scanned(text,
          new YamlError(source, index, startLine + 1, 1, "unreadable: " + e.getMessage())));
      return;
    }
    if (tree == null || tree.isNull() || tree.isMissingNode()) {
      return;
    }
    if (!tree.isObject()) {
      errors.add(
          new YamlError(
              source,
              index,
              startLine + 1,
              1,
              "not a Kubernetes object (expected a mapping with apiVersion, kind and metadata,"
                  + " found "
                  + tree.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)
                  + ")"));
      return;
    }
    String kind = tree.path("kind").asText("");
    if (kind.endsWith("List") && tree.path("items").isArray()) {
      for (JsonNode item : tree.path("items")) {
        if (item.isObject()) {
          objects.add(toObject((ObjectNode) item));
        }
      }
      return;
    }
    objects.add(toObject((ObjectNode) tree));
  }

  private static final Pattern KIND_LINE = Pattern.compile("^kind:\\s*[\"']?([A-Za-z0-9]+)");
  private static final Pattern METADATA_LINE = Pattern.compile("^metadata:\\s*$");
  private static final Pattern META_FIELD_LINE =
      Pattern.compile("^\\s+(name|namespace):\\s*[\"']?([A-Za-z0-9.-]+)");

  /**
   * The error with the object it is about, read from the raw text where the parser could not:
   * a top-level {@code kind:} line, and {@code name:}/{@code namespace:} lines under {@code
   * metadata:} (the first indented ones).
   */
  private static YamlError scanned(String text, YamlError e) {
    String kind = "";
    String namespace = "";
    String name = "";
    boolean inMetadata = false;
    for (String line : text.split("\n")) {
      java.util.regex.Matcher m = KIND_LINE.matcher(line);
      if (kind.isEmpty() && m.find()) {
        kind = m.group(1);
      }
      if (METADATA_LINE.matcher(line).matches()) {
        inMetadata = true;
        continue;
      }
      if (inMetadata && !line.isEmpty() && !Character.isWhitespace(line.charAt(0))) {
        inMetadata = false;
      }
      m = META_FIELD_LINE.matcher(line);
      if (inMetadata && m.find()) {
        if (m.group(1).equals("name") && name.isEmpty()) {
          name = m.group(2);
        } else if (m.group(1).equals("namespace") && namespace.isEmpty()) {
          namespace = m.group(2);
        }
      }
    }
    return new YamlError(e.source(), e.document(), e.line(), e.column(), e.message(), kind,
        namespace, name);
  }

  /**
   * The Fabric8 object for a tree: typed when its kind is known and its fields fit, else generic.
   */
  static HasMetadata toObject(ObjectNode tree) {
    Class<? extends HasMetadata> type =
        KnownKinds.typeOf(tree.path("apiVersion").asText(""), tree.path("kind").asText(""));
    if (type != null && TreeChecks.passes(tree.path("kind").asText(), tree)) {
      try {
        HasMetadata typed = SERIALIZATION.convertValue(tree, type);
        // A field the model dropped on the way in is only found with the tree at hand: leave
        // such an object generic, so that the translator converts it again and reports the field.
        if (UnknownFields.find(tree, typed).stream().noneMatch(UnknownFields.Found::dropped)) {
          return typed;
        }
      } catch (IllegalArgumentException e) {
        // The translator converts again and reports the field; keep the object.
      }
    }
    try {
      return SERIALIZATION.convertValue(tree, GenericKubernetesResource.class);
    } catch (IllegalArgumentException e) {
      // metadata itself does not fit ObjectMeta; keep what identifies the object.
      GenericKubernetesResource g = new GenericKubernetesResource();
      g.setApiVersion(tree.path("apiVersion").asText(null));
      g.setKind(tree.path("kind").asText(null));
      g.setAdditionalProperty("metadata", YAML.convertValue(tree.path("metadata"), Object.class));
      return g;
    }
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
