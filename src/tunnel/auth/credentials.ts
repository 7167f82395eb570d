// Username/password bounds shared by the client (auth-user-pass FILE), the
// server's checks and `insel tunnel passwd`. A password never appears in a
// message: problems name the field only.

/** Bytes per field (UTF-8), as OpenVPN's USER_PASS_LEN-ish bound; a peer cannot make us hash or pass on more. */
export const CREDENTIAL_MAX_BYTES = 256;

export interface Credentials {
  user: string;
  password: string;
}

// C0, DEL and C1 controls: a newline would split via-file's two lines, NUL would cut a C string
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why this username or password is refused (never quoting the password), or undefined when it is acceptable. */
export function credentialProblem(field: 'username' | 'password', value: string): string | undefined {
  if (field === 'username' && value === '') return 'the username is empty';
  if (Buffer.byteLength(value, 'utf8') > CREDENTIAL_MAX_BYTES) return `the ${field} is longer than ${CREDENTIAL_MAX_BYTES} bytes`;
  if (CONTROL.test(value)) return `the ${field} has control characters`;
  return undefined;
}

/** The first problem with either field, or undefined. */
export function credentialsProblem(c: Credentials): string | undefined {
  return credentialProblem('username', c.user) ?? credentialProblem('password', c.password);
}
