/**
 * Lists answer one page (`{data, has_more}`); `await` a list for that page, or iterate it with
 * `for await` to walk every page (`starting_after` the last `id`) without thinking about pages.
 */

import type { Http, Query } from "./http.js";

export interface Page<T> {
  data: T[];
  has_more: boolean;
}

export interface ListParams {
  limit?: number;
  starting_after?: string;
}

export class PageList<T extends { id: string | number }>
  implements PromiseLike<Page<T>>, AsyncIterable<T>
{
  private first: Promise<Page<T>> | undefined;

  constructor(
    private readonly http: Http,
    private readonly path: string,
    private readonly query: Query,
  ) {}

  then<A = Page<T>, B = never>(
    onfulfilled?: ((value: Page<T>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.first ??= this.http.request<Page<T>>("GET", this.path, { query: this.query });
    return this.first.then(onfulfilled, onrejected);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let page: Page<T> = await this.then((first) => first);
    for (;;) {
      yield* page.data;
      const last = page.data[page.data.length - 1];
      if (!page.has_more || last === undefined) return;
      page = await this.http.request<Page<T>>("GET", this.path, {
        query: { ...this.query, starting_after: String(last.id) },
      });
    }
  }
}
