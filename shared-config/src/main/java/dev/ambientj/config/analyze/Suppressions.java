package dev.ambientj.config.analyze;

import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Findings the user asked not to see: {@code --suppress CODE=RESOURCE} (repeatable) and the
 * {@code galley.istio.io/analyze-suppress} annotation on an object (codes separated by commas), as
 * istioctl takes them.
 *
 * <p>{@code RESOURCE} names the object a finding is about, with {@code *} matching any run of
 * characters, in any of three spellings: istioctl's {@code Kind name.namespace} ({@code
 * "IST0102=Namespace frod"}, {@code "IST0101=VirtualService *.production"}), the one {@code mesh
 * analyze} prints, {@code Kind namespace/name}, or {@code Kind/namespace/name}. Kinds are matched
 * without regard to case. A suppressed finding is not printed and does not count for the exit
 * status. Immutable.
 */
final class Suppressions {
  static final String ANNOTATION = "galley.istio.io/analyze-suppress";

  private record Rule(String code, Pattern resource) {}

  private final List<Rule> rules;

  private Suppressions(List<Rule> rules) {
    this.rules = List.copyOf(rules);
  }

  static Suppressions none() {
    return new Suppressions(List.of());
  }

  /**
   * Parses {@code --suppress} values.
   *
   * @throws IllegalArgumentException naming the value and the expected form
   */
  static Suppressions parse(List<String> values) {
    List<Rule> rules = new ArrayList<>();
    for (String v : values) {
      int eq = v.indexOf('=');
      if (eq <= 0 || eq == v.length() - 1) {
        throw new IllegalArgumentException("--suppress " + v
            + ": expected CODE=RESOURCE, e.g. \"IST0101=VirtualService payment.production\"");
      }
      rules.add(new Rule(v.substring(0, eq).trim().toUpperCase(Locale.ROOT),
          glob(v.substring(eq + 1).trim())));
    }
    return new Suppressions(rules);
  }

  /** These rules and one per code in each object's {@value #ANNOTATION} annotation. */
  Suppressions withAnnotationsOf(List<HasMetadata> objects) {
    List<Rule> all = new ArrayList<>(rules);
    for (HasMetadata o : objects) {
      var meta = o.getMetadata();
      String codes = meta == null || meta.getAnnotations() == null ? null
          : meta.getAnnotations().get(ANNOTATION);
      if (codes == null || o.getKind() == null || meta.getName() == null) {
        continue;
      }
      String resource = meta.getNamespace() == null || meta.getNamespace().isEmpty()
          || "Namespace".equals(o.getKind())
          ? o.getKind() + " " + meta.getName()
          : o.getKind() + " " + meta.getNamespace() + "/" + meta.getName();
      for (String code : codes.split(",")) {
        if (!code.isBlank()) {
          all.add(new Rule(code.trim().toUpperCase(Locale.ROOT),
              Pattern.compile(Pattern.quote(resource), Pattern.CASE_INSENSITIVE)));
        }
      }
    }
    return new Suppressions(all);
  }

  boolean suppresses(Finding f) {
    if (f.kind().isEmpty()) {
      return false; // a file problem is about no object
    }
    List<String> spellings = f.namespace().isEmpty()
        ? List.of(f.kind() + " " + f.name(), f.kind() + "/" + f.name())
        : List.of(f.kind() + " " + f.name() + "." + f.namespace(),
            f.kind() + " " + f.namespace() + "/" + f.name(),
            f.kind() + "/" + f.namespace() + "/" + f.name());
    for (Rule r : rules) {
      if (r.code().equals(f.code())
          && spellings.stream().anyMatch(s -> r.resource().matcher(s).matches())) {
        return true;
      }
    }
    return false;
  }

  private static Pattern glob(String text) {
    StringBuilder re = new StringBuilder();
    for (String part : text.split("\\*", -1)) {
      if (!re.isEmpty()) {
        re.append(".*");
      }
      re.append(Pattern.quote(part));
    }
    return Pattern.compile(re.toString(), Pattern.CASE_INSENSITIVE);
  }
}
