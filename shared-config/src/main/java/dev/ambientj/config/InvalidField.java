package dev.ambientj.config;

/**
 * Thrown by a validator: the field and the problem, which the caller turns into a ConfigRejection.
 */
final class InvalidField extends Exception {
  final String field;
  final String problem;

  InvalidField(String field, String problem) {
    super(field + ": " + problem, null, false, false);
    this.field = field;
    this.problem = problem;
  }
}
