'use client';

export default function WriteError({ error }: { error: Error & { digest?: string } }) {
  // Production hides the message from the browser; the server log has it under this digest.
  return (
    <p id="write-error">
      The session cannot be written here (digest <code id="digest">{error.digest}</code>).
    </p>
  );
}
