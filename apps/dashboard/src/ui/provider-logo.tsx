/** A neutral monogram: no third-party logos are bundled. */
export function ProviderLogo({ vendor, name }: { vendor: string; name: string }) {
  const initials = name
    .split(/\s+/)
    .map((w) => w[0] ?? '')
    .join('')
    .slice(0, 2)
    .toUpperCase();
  return (
    <span className={`provider-logo provider-logo-${vendor}`} aria-hidden="true">
      {initials}
    </span>
  );
}
