import type { MouseEvent } from 'react';

/** "Skip to content" for keyboard users; moves focus itself because the URL hash is the router's. */
export function SkipLink({ targetId }: { targetId: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>): void => {
    e.preventDefault();
    document.getElementById(targetId)?.focus();
  };
  return (
    <a className="skip-link" href={`#${targetId}`} onClick={onClick}>
      Skip to content
    </a>
  );
}
